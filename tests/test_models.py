"""fxcore.models: device/dtype choice, offline model sources, out-of-memory hints."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
import torch

from fxcore import models
from fxcore.errors import ConfigError, RunError


def test_auto_device_warns_once_on_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(models, "_warned_cpu", False)
    with pytest.warns(models.SlowDeviceWarning, match="will be slow"):
        assert models.resolve_device("auto") == torch.device("cpu")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert models.resolve_device("auto").type == "cpu"
        assert models.resolve_device("cpu").type == "cpu"


def test_bad_devices_name_the_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ConfigError, match="gen.device: 'cuda:1' requested but no CUDA"):
        models.resolve_device("cuda:1", where="gen.device")
    with pytest.raises(ConfigError, match="not a torch device"):
        models.resolve_device("gpu please")


def test_dtypes() -> None:
    cpu, cuda = torch.device("cpu"), torch.device("cuda")
    assert models.resolve_dtype("auto", cpu) is torch.float32
    assert models.resolve_dtype("auto", cuda) is torch.float16
    assert models.resolve_dtype("auto", cuda, auto=torch.float32) is torch.float32
    assert models.resolve_dtype("bf16", cpu) is torch.bfloat16
    with pytest.raises(ConfigError, match="x.dtype: fp16 needs a CUDA device"):
        models.resolve_dtype("fp16", cpu, where="x.dtype")
    with pytest.raises(ConfigError, match="not one of"):
        models.resolve_dtype("int8", cpu)


def test_local_directory_sources(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    (tmp_path / "config.json").write_text("{}")
    (tmp_path / "w.safetensors").write_bytes(b"")
    src = models.model_source(str(tmp_path), required=["config.json", ("w.bin", "w.safetensors")])
    assert src.local and src.local_files_only and src.ref == str(tmp_path.resolve())
    with pytest.raises(ConfigError, match=r"m.model: .* is not a GAN directory \(no a.json in"):
        models.model_source(str(tmp_path), where="m.model", required=["a.json"], what="GAN")
    with pytest.raises(ConfigError, match="model directory .* does not exist"):
        models.model_source(str(tmp_path / "missing"))
    hub = models.model_source("org/model", hub_file="config.json")
    assert not hub.local and not hub.local_files_only


def test_offline_hub_id_not_in_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(models, "hub_cached", lambda repo, name: False)
    with pytest.raises(ConfigError, match="not found locally and offline mode is on"):
        models.model_source("org/model", where="g.model", hub_file="model_index.json")
    monkeypatch.setattr(models, "hub_cached", lambda repo, name: True)
    src = models.model_source("org/model", hub_file="model_index.json")
    assert src.offline and src.local_files_only and not src.local


def test_path_spelling() -> None:
    assert models.looks_like_path("./sd") and models.looks_like_path("/x/y/z")
    assert models.looks_like_path("a/b/c") and not models.looks_like_path("org/model")
    assert not models.looks_like_path("biggan-deep-256")


def test_oom_becomes_a_run_error_with_a_smaller_batch() -> None:
    with pytest.raises(RunError, match=r"out of memory at g.batch_size = 8: set g.batch_size = 4"):
        with models.oom_hint(8, where="g.batch_size"):
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
    with pytest.raises(RunError, match="smaller image size"):
        with models.oom_hint(1):
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: out of memory")
    with pytest.raises(RuntimeError, match="shape mismatch"):
        with models.oom_hint(8):
            raise RuntimeError("shape mismatch")


def test_forbid_network_refuses_connections_and_restores() -> None:
    import socket

    connect = socket.socket.connect
    with models.forbid_network():
        assert models.offline_mode()
        with pytest.raises(models.NetworkForbidden):
            socket.create_connection(("127.0.0.1", 9))
        with socket.socket() as s, pytest.raises(models.NetworkForbidden):
            s.connect(("127.0.0.1", 9))
    assert socket.socket.connect is connect


def test_torch_threads_restores_the_callers_count() -> None:
    import torch

    from fxcore.models import torch_threads

    before = torch.get_num_threads()
    with pytest.raises(RuntimeError), torch_threads(1):
        assert torch.get_num_threads() == 1
        raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before
