"""open_clip zero-shot filter (the BO paper's): keep an image if CLIP recognises its subdomain.

With image embedding ``u`` and text embeddings ``t_j`` (both L2-normalised) the similarity is
``s_j = u · t_j``. Modes:

- ``rank`` (the paper): ``j`` runs over the prompts of *all* subdomains of the domain; keep the
  image if its own prompt is among the ``top_k`` most similar. Score: ``softmax(τ s)`` of its own
  prompt (``τ``: the model's logit scale).
- ``attributes``: each checked attribute ``a`` on its own: ``j`` runs over ``a``'s values, each
  written with the attribute's template; keep the image if, for every attribute, its own value
  is in the top ``top_k``. Score: the smallest own-value probability over the attributes.
- ``threshold``: keep the image if ``s`` of its own prompt is at least ``threshold``. Score: ``s``.

Text embeddings are computed once per set of texts (the domain's prompts hash to one key) and
kept for the life of the filter: a domain with 1000+ prompts is encoded once per run.
"""

from __future__ import annotations

import difflib
import hashlib
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from fxcore.domain import SubdomainSpace
from fxcore.errors import ConfigError
from fxcore.models import (
    hub_cached,
    looks_like_path,
    offline_missing,
    offline_mode,
    oom_hint,
    resolve_device,
    resolve_dtype,
)
from fxcore.preprocess import EvalTransform, check_images
from fxcore.schemas import EvaluationDomain, Subdomain

WHERE = "openclip params"
DEFAULT_MODEL = "ViT-L-14"
DEFAULT_PRETRAINED = "openai"
DEFAULT_ATTRIBUTE_TEMPLATE = "a photo of a {true_class}, {value}"
PRECISION = {torch.float32: "fp32", torch.float16: "fp16", torch.bfloat16: "bf16"}


class OpenClipParams(BaseModel):
    """Parameters of the ``openclip`` filter (``[filter.params]`` in a job config)."""

    model_config = ConfigDict(extra="forbid")

    model: str = Field(DEFAULT_MODEL, description="open_clip model name, or hf-hub:org/repo")
    pretrained: str | None = Field(
        DEFAULT_PRETRAINED,
        description="pretrained tag (e.g. laion2b_s34b_b79k) or a local checkpoint file; "
        "null: random weights (benchmarks only)",
    )
    model_config_file: str | None = Field(
        None, description="JSON of a model architecture open_clip does not ship (name = stem)"
    )
    mode: Literal["rank", "attributes", "threshold"] = "rank"
    top_k: int = Field(1, ge=1, description="rank / attributes: keep if own text is in the top k")
    threshold: float = Field(0.25, ge=-1.0, le=1.0, description="threshold: min cosine sim")
    attributes: list[str] | None = Field(None, description="attributes mode: which (default all)")
    attribute_templates: dict[str, str] = Field(
        default_factory=dict,
        description="attribute -> template with {value} (and {attribute}, {true_class}); "
        f"default {DEFAULT_ATTRIBUTE_TEMPLATE!r}",
    )
    device: str = Field("auto", description="auto | cpu | cuda | cuda:N")
    dtype: Literal["auto", "fp32", "fp16", "bf16"] = Field("auto", description="auto: fp16 on CUDA")
    batch_size: int = Field(64, ge=1, description="images per forward pass")
    text_batch_size: int = Field(256, ge=1, description="prompts per text-encoder pass")
    cache_size: int = Field(16, ge=1, description="text-embedding sets kept (one per domain)")


class OpenClipFilter:
    """``keep(images, subdomain, domain) -> (mask (N,) bool, scores (N,) float)``."""

    def __init__(self, **params: Any) -> None:
        self.params = p = OpenClipParams(**params)
        self.device = resolve_device(p.device, where=f"{WHERE}.device")
        self.dtype = resolve_dtype(p.dtype, self.device, where=f"{WHERE}.dtype")
        for attr, template in p.attribute_templates.items():
            _check_template(template, f"{WHERE}.attribute_templates.{attr}")
        self.model, self.tokenizer = _load(p, self.device, self.dtype)
        cfg = getattr(self.model.visual, "preprocess_cfg", {})
        size = cfg.get("size", self.model.visual.image_size)
        size = (size, size) if isinstance(size, int) else tuple(size)
        self.transform = EvalTransform(
            size=size,
            mean=tuple(cfg.get("mean", (0.48145466, 0.4578275, 0.40821073))),
            std=tuple(cfg.get("std", (0.26862954, 0.26130258, 0.27577711))),
            interpolation=cfg.get("interpolation", "bicubic"),
            squash=cfg.get("resize_mode", "shortest") != "shortest",
        )
        self.logit_scale = float(self.model.logit_scale.exp())
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._prompts: dict[str, list[str]] = {}

    # ------------------------------------------------------------------ embeddings
    def text_embeddings(self, texts: list[str]) -> torch.Tensor:
        """``(L, D)`` normalised text embeddings, cached by the hash of ``texts``."""
        key = hashlib.sha256("\x00".join(texts).encode()).hexdigest()
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        bs = self.params.text_batch_size
        with torch.inference_mode(), oom_hint(bs, where=f"{WHERE}.text_batch_size"):
            parts = [
                self.model.encode_text(self.tokenizer(texts[i : i + bs]).to(self.device))
                for i in range(0, len(texts), bs)
            ]
            emb = torch.nn.functional.normalize(torch.cat(parts).float(), dim=-1)
        self._cache[key] = emb
        while len(self._cache) > self.params.cache_size:
            self._cache.popitem(last=False)
        return emb

    def domain_prompts(self, domain: EvaluationDomain) -> list[str]:
        """The distinct prompts of all subdomains of ``domain`` (sorted; cached per domain)."""
        key = hashlib.sha256(domain.model_dump_json().encode()).hexdigest()
        if key not in self._prompts:
            self._prompts[key] = sorted(set(SubdomainSpace(domain).prompts()))
        return self._prompts[key]

    def image_embeddings(self, images: torch.Tensor) -> torch.Tensor:
        """``(N, D)`` normalised image embeddings (the model's preprocessing, in torch)."""
        check_images(images, where="images")
        bs = self.params.batch_size
        with torch.inference_mode(), oom_hint(bs, where=f"{WHERE}.batch_size"):
            parts = []
            for i in range(0, len(images), bs):
                x = self.transform(images[i : i + bs].to(self.device)).to(self.dtype)
                parts.append(self.model.encode_image(x).float())
            emb = torch.cat(parts) if parts else torch.zeros(0, 1, device=self.device)
            return torch.nn.functional.normalize(emb, dim=-1)

    # ------------------------------------------------------------------ filtering
    def keep(
        self, images: torch.Tensor, subdomain: Subdomain, domain: EvaluationDomain
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Which images show ``subdomain``: ``(mask, scores)`` on the images' device."""
        check_images(images, where="images")
        if len(images) == 0:
            empty = torch.zeros(0, device=images.device)
            return empty.bool(), empty
        u = self.image_embeddings(images)
        mode = self.params.mode
        if mode == "rank":
            prompts = self.domain_prompts(domain)
            if subdomain.prompt not in prompts:
                raise ValueError(
                    f"subdomain {subdomain.id}: its prompt {subdomain.prompt!r} is not one of "
                    f"the domain {domain.name!r}'s prompts"
                )
            mask, scores = self._rank(
                u, self.text_embeddings(prompts), prompts.index(subdomain.prompt)
            )
        elif mode == "attributes":
            mask, scores = self._attributes(u, subdomain, domain)
        else:
            s = u @ self.text_embeddings([subdomain.prompt]).T
            scores = s[:, 0]
            mask = scores >= self.params.threshold
        return mask.to(images.device), scores.to(images.device)

    def _rank(
        self, u: torch.Tensor, t: torch.Tensor, own: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Own text ``own`` among ``t``: (rank < top_k, softmax probability of own)."""
        s = u @ t.T
        rank = (s > s[:, own : own + 1]).sum(dim=1)  # texts strictly more similar than own
        prob = (self.logit_scale * s).softmax(dim=1)[:, own]
        return rank < self.params.top_k, prob

    def _attributes(
        self, u: torch.Tensor, subdomain: Subdomain, domain: EvaluationDomain
    ) -> tuple[torch.Tensor, torch.Tensor]:
        names = self.params.attributes or domain.attribute_names
        by_name = {a.name: a for a in domain.attributes}
        unknown = [n for n in names if n not in by_name]
        if unknown:
            raise ConfigError(
                f"{WHERE}.attributes: {unknown} are not attributes of domain {domain.name!r} "
                f"({', '.join(by_name)})"
            )
        true_class = domain.true_class_of(subdomain.values)
        mask = torch.ones(len(u), dtype=torch.bool, device=u.device)
        score = torch.ones(len(u), device=u.device)
        for name in names:
            template = self.params.attribute_templates.get(name, DEFAULT_ATTRIBUTE_TEMPLATE)
            values = by_name[name].values
            texts = [
                template.format(value=v, attribute=name, true_class=true_class) for v in values
            ]
            m, s = self._rank(u, self.text_embeddings(texts), values.index(subdomain.values[name]))
            mask &= m
            score = torch.minimum(score, s)
        return mask, score

    def __repr__(self) -> str:
        p = self.params
        return f"OpenClipFilter({p.model!r}, {p.pretrained!r}, mode={p.mode}, device={self.device})"


# ---------------------------------------------------------------------- loading
def _check_template(template: str, where: str) -> None:
    try:
        template.format(value="v", attribute="a", true_class="c")
    except (KeyError, IndexError, ValueError) as exc:
        raise ConfigError(
            f"{where}: {template!r} may use only {{value}}, {{attribute}}, {{true_class}} ({exc})"
        ) from None


def _load(p: OpenClipParams, device: torch.device, dtype: torch.dtype) -> tuple[Any, Any]:
    import open_clip

    if p.model_config_file is not None:
        path = Path(p.model_config_file).expanduser()
        if not path.is_file():
            raise ConfigError(f"{WHERE}.model_config_file: {str(path)!r} does not exist")
        open_clip.add_model_config(path)
    hub = p.model.startswith("hf-hub:")
    if not hub and p.model not in open_clip.list_models():
        close = difflib.get_close_matches(p.model, open_clip.list_models(), n=3)
        hint = f"; did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ConfigError(f"{WHERE}.model: {p.model!r} is not an open_clip model{hint}")
    pretrained = _pretrained(p, hub)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            model, _, _ = open_clip.create_model_and_transforms(
                p.model,
                pretrained=pretrained,
                device=device,
                precision=PRECISION[dtype],
                weights_only=True,
            )
        tokenizer = open_clip.get_tokenizer(p.model)
    except (OSError, RuntimeError, ValueError) as exc:
        if offline_mode() and not (pretrained and looks_like_path(pretrained)):
            raise offline_missing(p.model, f"{WHERE}.model") from None
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ConfigError(f"{WHERE}.pretrained: cannot load {p.model!r}: {first}") from None
    return model.eval().requires_grad_(False), tokenizer


def _pretrained(p: OpenClipParams, hub: bool) -> str | None:
    """A checked local file, a known tag (cached if offline), or None."""
    import open_clip

    where = f"{WHERE}.pretrained"
    if hub:
        repo = p.model.split(":", 1)[1]
        if offline_mode() and not hub_cached(repo, "open_clip_config.json"):
            raise offline_missing(repo, f"{WHERE}.model")
        return None
    if p.pretrained is None:
        return None
    tags = open_clip.list_pretrained_tags_by_model(p.model)
    if p.pretrained in tags:
        cfg = open_clip.get_pretrained_cfg(p.model, p.pretrained)
        repo = (cfg.get("hf_hub") or "").strip("/")
        files = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
        if offline_mode() and repo and not any(hub_cached(repo, f) for f in files):
            raise offline_missing(f"{p.model} ({p.pretrained}, hub {repo})", where)
        return p.pretrained
    path = Path(p.pretrained).expanduser()
    if path.is_file():
        return str(path)
    if looks_like_path(p.pretrained) or path.suffix in {".safetensors", ".pt", ".pth", ".bin"}:
        raise ConfigError(f"{where}: checkpoint file {str(path)!r} does not exist")
    known = ", ".join(tags) or "none"
    raise ConfigError(
        f"{where}: {p.pretrained!r} is neither a file nor a pretrained tag of {p.model!r} "
        f"(tags: {known})"
    )
