"""The BO paper's pipeline end to end on tiny models: sd21 generates, openclip filters, a timm
ImageNet classifier is scored on the WordNet "dog" group, through ``fxcore.explore``.

Runs only where fxcore-sd21 and fxcore-timm are installed too (the 'all' session).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fxcore_openclip.testing import TINY_NAME, save_tiny_clip

from fxcore.plugins import Registry
from fxcore.schemas import ExploreConfig

sd21_testing = pytest.importorskip("fxcore_sd21.testing")
timm_testing = pytest.importorskip("fxcore_timm.testing")


def test_explore_runs_sd21_openclip_timm(tmp_path: Path) -> None:
    from fxcore.explore.job import explore

    sd = sd21_testing.save_tiny_pipeline(tmp_path / "sd", sample_size=16)
    clip_config, clip_weights = save_tiny_clip(tmp_path / "clip")
    timm_ckpt = timm_testing.save_tiny_timm(tmp_path / "clf.safetensors", num_classes=1000)
    config = ExploreConfig.model_validate(
        {
            "seed": 0,
            "budget": 3,
            "batch_size": 1,
            "images_per_subdomain": 2,
            "max_attempts": 2,
            "save_images": 1,
            "domain": {
                "name": "dogs",
                "prompt_template": "a photo of a {true_class} {place}, {weather}",
                "true_class": "dog",
                "attributes": {
                    "place": ["on a beach", "in a forest"],
                    "weather": ["sunny", "snowing"],
                },
            },
            "generator": {
                "name": "sd21",
                "params": {"model": str(sd), "device": "cpu", "steps": 2, "batch_size": 4},
            },
            "filter": {
                "name": "openclip",
                "params": {
                    "model": TINY_NAME,
                    "model_config_file": str(clip_config),
                    "pretrained": str(clip_weights),
                    "device": "cpu",
                    "top_k": 2,
                },
            },
            "classifier": {
                "name": "timm",
                "params": {"model": "test_resnet", "checkpoint": str(timm_ckpt), "device": "cpu"},
            },
            "true_classes": ["wordnet:n02084071"],  # the ImageNet dogs, summed
            "selector": {"name": "random"},
        }
    )
    result = explore(config, tmp_path / "run", registry=Registry.load(), show_progress=False)
    assert len(result.evaluations) == 3 and result.complete
    for e in result.evaluations:
        assert 0 < e.n_generated and 0 <= e.n_kept <= 2
        assert e.accuracy is None or 0.0 <= e.accuracy <= 1.0
    assert sum(e.n_kept for e in result.evaluations) > 0  # the filter let some images through
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["summary"]["n_evaluated"] == 3
