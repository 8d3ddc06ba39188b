"""fxcore-sd21 through its public configuration, on a tiny saved pipeline, with no network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from fxcore.contracts import Generator
from fxcore.errors import ConfigError
from fxcore.plugins import Registry

PROMPT = "a photo of a dog in the snow"


@pytest.fixture(scope="module")
def registry() -> Registry:
    return Registry.load(strict=False)


def make(registry: Registry, model: Path | str, **params: object) -> Generator:
    spec = {"name": "sd21", "params": {"model": str(model), "device": "cpu", **params}}
    return registry.create("generator", spec, where="generator")


@pytest.fixture(scope="module")
def gen(registry: Registry, tiny_sd: Path) -> Generator:
    return make(registry, tiny_sd, steps=2, batch_size=4)


def test_discovered_through_the_entry_point(registry: Registry) -> None:
    assert "sd21/sd21" in registry.names("generator")
    registry.get("generator", "sd21/sd21")  # known from the manifest, imported on first use
    record = next(r for r in registry.records if r.name == "sd21")
    assert record.status == "loaded" and record.distribution == "fxcore-sd21"


def test_generates_images_in_unit_range(gen: Generator) -> None:
    images = gen.generate(PROMPT, {"weather": "snow"}, 4, seed=0)
    assert images.shape == (4, 3, 32, 32) and images.dtype == torch.float32
    assert torch.isfinite(images).all()
    assert images.min() >= 0 and images.max() <= 1
    assert images.std() > 0.01  # not a constant image
    assert not torch.equal(images[0], images[1])  # one seed per image
    assert not images.requires_grad and not images.is_inference()


def test_same_seed_same_images_and_any_image_regenerates_alone(gen: Generator) -> None:
    batch = gen.generate(PROMPT, {}, 4, seed=11)
    again = gen.generate(PROMPT, {}, 4, seed=11)
    torch.testing.assert_close(batch, again, rtol=0, atol=0)
    alone = gen.generate(PROMPT, {}, 1, seed=13)  # image 2 of the batch: seed 11 + 2
    torch.testing.assert_close(alone[0], batch[2], rtol=0, atol=1e-4)
    assert (gen.generate(PROMPT, {}, 1, seed=12)[0] - batch[2]).abs().max() > 1e-2


def test_batch_size_does_not_change_the_images(registry: Registry, tiny_sd: Path) -> None:
    by4 = make(registry, tiny_sd, steps=2, batch_size=4).generate(PROMPT, {}, 3, seed=5)
    by2 = make(registry, tiny_sd, steps=2, batch_size=2).generate(PROMPT, {}, 3, seed=5)
    torch.testing.assert_close(by2, by4, rtol=0, atol=1e-4)


def test_prompt_suffix_is_appended(registry: Registry, tiny_sd: Path) -> None:
    suffixed = make(registry, tiny_sd, steps=2, prompt_suffix=", a realistic image")
    plain = make(registry, tiny_sd, steps=2)
    a = suffixed.generate("a dog", {}, 1, seed=3)
    b = plain.generate("a dog, a realistic image", {}, 1, seed=3)
    c = plain.generate("a dog", {}, 1, seed=3)
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert (a - c).abs().max() > 1e-3


def test_negative_prompt_and_guidance_change_the_images(registry: Registry, tiny_sd: Path) -> None:
    base = make(registry, tiny_sd, steps=2).generate(PROMPT, {}, 1, seed=0)
    neg = make(registry, tiny_sd, steps=2, negative_prompt="blurry").generate(PROMPT, {}, 1, 0)
    unguided = make(registry, tiny_sd, steps=2, guidance_scale=1.0).generate(PROMPT, {}, 1, 0)
    assert (base - neg).abs().max() > 1e-3
    assert (base - unguided).abs().max() > 1e-3


def test_resize_and_size_options(registry: Registry, tiny_sd: Path) -> None:
    g = make(registry, tiny_sd, steps=1, height=48, width=40, resize=[24, 20])
    images = g.generate(PROMPT, {}, 2, seed=0)
    assert images.shape == (2, 3, 24, 20)
    assert g.output_size() == (24, 20)
    assert images.min() >= 0 and images.max() <= 1
    square = make(registry, tiny_sd, steps=1, resize=16).generate(PROMPT, {}, 1, seed=0)
    assert square.shape == (1, 3, 16, 16)
    assert g.generate(PROMPT, {}, 0, seed=0).shape == (0, 3, 24, 20)


@pytest.mark.parametrize(
    "name, cls",
    [
        ("dpm++", "DPMSolverMultistepScheduler"),
        ("euler", "EulerDiscreteScheduler"),
        ("euler-ancestral", "EulerAncestralDiscreteScheduler"),
        ("default", "DDIMScheduler"),
    ],
)
def test_schedulers(registry: Registry, tiny_sd: Path, name: str, cls: str) -> None:
    g = make(registry, tiny_sd, steps=2, scheduler=name)
    images = g.generate(PROMPT, {}, 2, seed=1)
    assert type(g.pipeline.scheduler).__name__ == cls
    assert torch.isfinite(images).all() and images.shape == (2, 3, 32, 32)
    # stochastic samplers too: one CPU generator per image keeps image 1 reproducible alone
    torch.testing.assert_close(g.generate(PROMPT, {}, 1, seed=2)[0], images[1], rtol=0, atol=1e-4)


def test_memory_options_keep_the_images(registry: Registry, tiny_sd: Path, gen: Generator) -> None:
    lean = make(registry, tiny_sd, steps=2, attention_slicing=True, vae_tiling=True)
    torch.testing.assert_close(
        lean.generate(PROMPT, {}, 2, seed=4), gen.generate(PROMPT, {}, 2, seed=4), rtol=0, atol=1e-4
    )


def test_model_is_loaded_once(registry: Registry, tiny_sd: Path) -> None:
    g = make(registry, tiny_sd, steps=1)
    g.generate(PROMPT, {}, 1, seed=0)
    pipe = g.pipeline
    g.generate(PROMPT, {}, 1, seed=1)
    assert g.pipeline is pipe


# ---------------------------------------------------------------------- errors


def test_missing_directory(registry: Registry, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"params\.model: model directory .*does not exist"):
        make(registry, tmp_path / "nowhere")


def test_directory_that_is_not_a_diffusers_model(registry: Registry, tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(ConfigError, match="not a diffusers pipeline directory"):
        make(registry, tmp_path)


def test_broken_model_directory_fails_on_load_with_one_line(
    registry: Registry, tiny_sd: Path, tmp_path: Path
) -> None:
    broken = shutil.copytree(tiny_sd, tmp_path / "broken")
    shutil.rmtree(broken / "unet")
    g = make(registry, broken, steps=1)
    with pytest.raises(ConfigError, match="cannot load diffusers pipeline") as err:
        g.generate(PROMPT, {}, 1, seed=0)
    assert "\n" not in str(err.value)


def test_hub_id_in_offline_mode(registry: Registry) -> None:
    with pytest.raises(ConfigError, match="not found locally and offline mode is on"):
        make(registry, "stabilityai/stable-diffusion-2-1-base")


def test_pickled_weights_are_refused_by_default(registry: Registry, tmp_path: Path) -> None:
    from fxcore_sd21.testing import save_tiny_pipeline

    path = save_tiny_pipeline(tmp_path / "bin-sd", sample_size=8, safetensors=False)
    # transformers always writes safetensors; the UNet and VAE are pickled .bin files here
    assert (path / "unet" / "diffusion_pytorch_model.bin").exists()
    assert not list((path / "unet").glob("*.safetensors"))
    with pytest.raises(ConfigError, match="use_safetensors = false"):
        make(registry, path, steps=1).generate(PROMPT, {}, 1, seed=0)
    trusted = make(registry, path, steps=1, use_safetensors=False)
    assert trusted.generate(PROMPT, {}, 1, seed=0).shape == (1, 3, 16, 16)


@pytest.mark.parametrize(
    "params, field",
    [
        ({"steps": 0}, "generator.params.steps"),
        ({"height": 50}, "generator.params.height"),
        ({"scheduler": "lms"}, "generator.params.scheduler"),
        ({"resize": 0}, "generator.params.resize"),
        ({"guidance": 3}, "generator.params.guidance"),
    ],
)
def test_bad_params_name_the_field(
    registry: Registry, tiny_sd: Path, params: dict, field: str
) -> None:
    with pytest.raises(ConfigError, match=field.replace(".", r"\.")):
        make(registry, tiny_sd, **params)


def test_device_and_dtype_checks(registry: Registry, tiny_sd: Path) -> None:
    with pytest.raises(ConfigError, match="fp16 needs a CUDA device"):
        make(registry, tiny_sd, dtype="fp16")
    with pytest.raises(ConfigError, match="cpu_offload: needs a CUDA device"):
        make(registry, tiny_sd, cpu_offload=True)
    if not torch.cuda.is_available():
        with pytest.raises(ConfigError, match="no CUDA device"):
            make(registry, tiny_sd, device="cuda")


def test_saved_model_is_a_real_diffusers_directory(tiny_sd: Path) -> None:
    index = json.loads((tiny_sd / "model_index.json").read_text())
    assert index["_class_name"] == "StableDiffusionPipeline"
    assert (tiny_sd / "unet" / "diffusion_pytorch_model.safetensors").exists()


def test_benchmark_layout_is_sd21_base() -> None:
    """The random full-size pipeline of the throughput benchmark has SD 2.1-base's UNet."""
    from diffusers import UNet2DConditionModel
    from fxcore_sd21.testing import architecture

    with torch.device("meta"):
        unet = UNet2DConditionModel(
            in_channels=4, out_channels=4, use_linear_projection=True,
            **architecture("sd21-base", 0)["unet"],
        )  # fmt: skip
    assert sum(p.numel() for p in unet.parameters()) == 865_910_724
