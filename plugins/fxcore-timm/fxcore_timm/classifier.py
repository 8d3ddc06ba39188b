"""Any timm image model as an fxcore :class:`~fxcore.contracts.Classifier`.

Weights come from the Hugging Face hub (``pretrained = true``, timm's own download and cache) or
from a local file (``checkpoint``: ``.safetensors`` preferred; ``.pth`` / ``.bin`` are read with
``torch.load(weights_only=True)``, which never unpickles code). A local state dict is loaded with
``strict=True`` into a model built with ``num_classes`` classes, so a head of the wrong size is an
error, never a silent re-initialisation.

Images are preprocessed in torch with the model's own data config (input size, crop, mean, std,
interpolation): ``predict_proba`` is differentiable when the images require grad.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from fxcore.errors import ConfigError
from fxcore.hierarchy import ClassHierarchy
from fxcore.models import hub_cached, offline_missing, offline_mode, oom_hint, resolve_device
from fxcore.preprocess import EvalTransform, check_images

DEFAULT_MODEL = "resnet50.a1_in1k"
WHERE = "timm params"


class TimmParams(BaseModel):
    """Parameters of the ``timm`` classifier (``[classifier.params]`` in a job config)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="timm model name, e.g. vit_base_patch16_224")
    pretrained: bool = Field(True, description="load the hub weights (ignored with checkpoint)")
    checkpoint: str | None = Field(None, description="local .safetensors / .pth state dict")
    num_classes: int | None = Field(None, ge=1, description="default: len(classes) or model's")
    classes: list[str] | str | None = Field(
        None, description="class names, or a text file with one per line"
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    batch_size: int = Field(64, ge=1)
    resize: Literal["crop", "squash"] = Field(
        "crop", description="crop: the model's eval transform; squash: resize to the input size"
    )
    seed: int = Field(0, description="seed of the shuffling in fit()")


class TimmClassifier:
    """``predict_proba(images (N, C, H, W) in [0, 1]) -> (N, K)`` with a timm model.

    ``features(images) -> (N, D)``: pooled pre-logits. ``fit(images, labels)``: fine-tuning.
    """

    differentiable = True

    def __init__(self, **params: Any) -> None:
        self.params = p = TimmParams(**params)
        self.device = resolve_device(p.device, where=f"{WHERE}.device")
        names = _read_classes(p.classes)
        if names is not None and p.num_classes is not None and len(names) != p.num_classes:
            raise ConfigError(
                f"{WHERE}.classes: {len(names)} names but num_classes = {p.num_classes}"
            )
        num_classes = p.num_classes or (len(names) if names is not None else None)
        # weights are frozen outside fit(): gradients through predict_proba reach the images only
        self.model: Any = _build(p, num_classes).to(self.device).eval().requires_grad_(False)
        k = int(self.model.num_classes)
        if names is None:
            names = (ClassHierarchy.imagenet().unique_names() if k == 1000
                     else [str(i) for i in range(k)])
        elif len(names) != k:
            raise ConfigError(f"{WHERE}.classes: {len(names)} names but the model has {k} classes")
        self.classes: list[str] = names
        self.data_config = _data_config(self.model)
        cfg = self.data_config
        self.transform = EvalTransform(
            size=tuple(cfg["input_size"][1:]),
            mean=tuple(cfg["mean"]),
            std=tuple(cfg["std"]),
            interpolation=cfg.get("interpolation", "bicubic"),
            crop_pct=cfg.get("crop_pct", 1.0) if cfg.get("crop_mode", "center") == "center" else 1,
            squash=p.resize == "squash",
        )
        self._fits = 0

    # ------------------------------------------------------------------ inference
    def _prepare(self, images: torch.Tensor) -> torch.Tensor:
        check_images(images, where="images")
        return self.transform(images.to(self.device))

    def _run(self, images: torch.Tensor, features: bool) -> torch.Tensor:
        def forward(x: torch.Tensor) -> torch.Tensor:
            x = self._prepare(x)
            if features:
                return self.model.forward_head(self.model.forward_features(x), pre_logits=True)
            return self.model(x).softmax(dim=1)

        bs = self.params.batch_size
        with oom_hint(bs, where=f"{WHERE}.batch_size"):
            if isinstance(images, torch.Tensor) and images.requires_grad:
                return torch.cat([forward(images[i : i + bs]) for i in range(0, len(images), bs)])
            with torch.inference_mode():
                outs = [forward(images[i : i + bs]) for i in range(0, len(images), bs)]
                out = torch.cat(outs) if outs else forward(images)
        return out.clone()  # a normal tensor outside inference mode

    def predict_proba(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, K)`` class probabilities on the classifier's device."""
        return self._run(images, features=False)

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` pooled pre-logit features (``forward_head(..., pre_logits=True)``)."""
        return self._run(images, features=True)

    # ------------------------------------------------------------------ fine-tuning
    def fit(
        self,
        images: torch.Tensor,
        labels: torch.Tensor | np.ndarray | Sequence[int],
        epochs: int = 1,
        lr: float = 1e-4,
        batch_size: int | None = None,
    ) -> TimmClassifier:
        """Fine-tune every weight on ``images (N, C, H, W)`` with class indices ``labels (N,)``.

        AdamW, cross-entropy, ``epochs`` passes in a seeded random order; the model is back in
        eval mode afterwards.
        """
        check_images(images, where="images")
        y = torch.as_tensor(np.asarray(labels), dtype=torch.int64)
        if y.ndim != 1 or len(y) != len(images):
            raise ValueError(f"labels must be (N,) = ({len(images)},), got {tuple(y.shape)}")
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(self.classes)):
            raise ValueError(f"labels must be class indices in 0..{len(self.classes) - 1}")
        bs = batch_size or self.params.batch_size
        self._fits += 1
        gen = torch.Generator().manual_seed(self.params.seed + 1000 * self._fits)
        self.model.train().requires_grad_(True)
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr)
        try:
            with oom_hint(bs, where=f"{WHERE}.batch_size"):
                for _ in range(epochs):
                    order = torch.randperm(len(y), generator=gen)
                    for start in range(0, len(y), bs):
                        idx = order[start : start + bs]
                        if len(idx) < 2 and len(y) >= 2:
                            continue  # BatchNorm cannot train on one image
                        x = self._prepare(images[idx].detach())
                        loss = F.cross_entropy(self.model(x), y[idx].to(self.device))
                        opt.zero_grad(set_to_none=True)
                        loss.backward()
                        opt.step()
        finally:
            self.model.eval().requires_grad_(False)
            self.model.zero_grad(set_to_none=True)
        return self

    def __repr__(self) -> str:
        src = self.params.checkpoint or ("hub" if self.params.pretrained else "random")
        return (
            f"TimmClassifier({self.params.model!r}, {len(self.classes)} classes, {src}, "
            f"device={self.device})"
        )


# ---------------------------------------------------------------------- loading
def _read_classes(classes: list[str] | str | None) -> list[str] | None:
    if classes is None or isinstance(classes, list):
        return classes
    path = Path(classes).expanduser()
    if not path.is_file():
        raise ConfigError(f"{WHERE}.classes: class-name file {str(path)!r} does not exist")
    names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [n for n in names if n]


def _check_name(name: str) -> None:
    import timm

    if name.startswith(("hf-hub:", "hf_hub:", "local-dir:")) or timm.is_model(name):
        return
    close = difflib.get_close_matches(name, timm.list_models(), n=3)
    hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
    raise ConfigError(f"{WHERE}.model: {name!r} is not a timm model{hint}")


def _hub_id(name: str) -> str | None:
    """The hub repository timm downloads ``name``'s weights from, if any."""
    if name.startswith(("hf-hub:", "hf_hub:")):
        return name.split(":", 1)[1].split("@")[0]
    from timm.models import get_pretrained_cfg

    cfg = get_pretrained_cfg(name)
    return getattr(cfg, "hf_hub_id", None) if cfg is not None else None


def _build(p: TimmParams, num_classes: int | None) -> Any:
    import timm

    _check_name(p.model)
    kwargs: dict[str, Any] = {} if num_classes is None else {"num_classes": num_classes}
    if p.checkpoint is not None:
        path = Path(p.checkpoint).expanduser()
        if not path.is_file():
            raise ConfigError(f"{WHERE}.checkpoint: weights file {str(path)!r} does not exist")
        model = timm.create_model(p.model, pretrained=False, **kwargs)
        _load_state_dict(model, path)
        return model
    if p.pretrained:
        hub_id = _hub_id(p.model)
        if hub_id is None:
            raise ConfigError(
                f"{WHERE}.model: timm has no pretrained weights for {p.model!r}; "
                "set checkpoint to a local file or pretrained = false"
            )
        cached = any(hub_cached(hub_id, f) for f in ("model.safetensors", "pytorch_model.bin"))
        if offline_mode() and not cached:
            raise offline_missing(hub_id, f"{WHERE}.model")
        try:
            return timm.create_model(p.model, pretrained=True, **kwargs)
        except (OSError, RuntimeError, ValueError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise ConfigError(
                f"{WHERE}.model: cannot load {p.model!r} from the hub: {first}"
            ) from None
    return timm.create_model(p.model, pretrained=False, **kwargs)


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A state dict from ``.safetensors`` or a torch file (``weights_only=True``: no code runs).

    A torch file may wrap the weights as ``{"state_dict": ...}`` / ``{"model": ...}``, and keys
    may carry a ``module.`` prefix (DataParallel); both are undone.
    """
    where = f"{WHERE}.checkpoint"
    try:
        if path.suffix == ".safetensors":
            from safetensors.torch import load_file

            sd: Any = load_file(str(path), device="cpu")
        else:
            sd = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - any unreadable file is one config error
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{where}: cannot read weights from {str(path)!r}: {first}") from None
    for key in ("state_dict", "model", "state_dict_ema"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
            break
    if not isinstance(sd, dict) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise ConfigError(f"{where}: {str(path)!r} does not hold a state dict of tensors")
    return {k.removeprefix("module."): v for k, v in sd.items()}


def _load_state_dict(model: torch.nn.Module, path: Path) -> None:
    sd = read_state_dict(path)
    where = f"{WHERE}.checkpoint"
    head = _head_prefix(model)
    own = model.state_dict()
    for name, param in own.items():
        stored = sd.get(name)
        if stored is not None and stored.shape != param.shape:
            if head and name.startswith(head):
                raise ConfigError(
                    f"{where}: {str(path)!r} has a {stored.shape[0]}-class head; "
                    f"set num_classes = {stored.shape[0]} (the model was built with "
                    f"{param.shape[0]})"
                )
            raise ConfigError(
                f"{where}: {str(path)!r} does not fit {type(model).__name__}: {name} is "
                f"{tuple(stored.shape)} in the file, {tuple(param.shape)} in the model"
            )
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    if missing or unexpected:
        detail = f"missing {missing[:3]}" if missing else f"unexpected {unexpected[:3]}"
        raise ConfigError(
            f"{where}: {str(path)!r} is not a state dict of this model ({detail}; "
            f"{len(missing)} missing, {len(unexpected)} unexpected keys)"
        )
    model.load_state_dict(sd, strict=True)


def _head_prefix(model: torch.nn.Module) -> str | None:
    """``"fc."`` / ``"head.fc."``: the state-dict prefix of the classifier head, if timm has one."""
    get = getattr(model, "get_classifier", None)
    head = get() if callable(get) else None
    names = {id(m): n for n, m in model.named_modules()}
    return f"{names[id(head)]}." if head is not None and id(head) in names else None


def _data_config(model: torch.nn.Module) -> dict[str, Any]:
    from timm.data import resolve_model_data_config

    return dict(resolve_model_data_config(model))
