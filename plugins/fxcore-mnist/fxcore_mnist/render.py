"""The ``render`` generator: real images of a class, changed as the attributes say.

``generate(prompt, attributes, n, seed)`` samples ``n`` real images of the subdomain's class from
the held-out split (the classifiers never saw them) and applies, in this order:

1. ``thickness`` (grey-scale dilation / erosion at twice the resolution: half-pixel steps),
2. ``occlusion`` (erases a band of the digit: its top, bottom, left or right third, or centre),
3. one resampling for ``rotation``, ``scale``, ``position`` and ``elastic`` (``grid_sample``),
4. ``blur`` (Gaussian), 5. ``contrast``, 6. ``noise`` (additive Gaussian, clipped to [0, 1]).

Every value other than the neutral one (``none`` / ``normal`` / ``center``) has a magnitude
(:data:`VOCABULARY`), jittered per image by ``jitter`` (0 turns jitter off) and scaled by
``intensity``. Neutral values leave the image exactly as it was.

Reproducibility: image ``i`` depends only on ``(seed, i, attributes)`` (and the params): all its
random numbers come from ``numpy.random.default_rng([seed, i])``, drawn in a fixed order that does
not depend on the attributes. So image ``i`` of a call with ``n = 5`` equals image ``i`` of a call
with ``n = 50``, and subdomains that differ in one attribute show the same source images with the
same noise (common random numbers).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field

from fxcore_mnist.data import load_dataset, to_tensor

SIZE = 28
CLASS_ATTRIBUTES: tuple[str, ...] = ("digit", "class")

#: attribute -> value -> magnitude (degrees, half-pixel steps, zoom factor, pixels, std, sigma …)
ROTATION = {
    "none": 0.0,
    "slight-left": 15.0,
    "slight-right": -15.0,
    "strong-left": 45.0,
    "strong-right": -45.0,
    "upside-down": 180.0,
}
THICKNESS = {"thin": -1, "normal": 0, "bold": 1, "heavy": 2}
SCALE = {"tiny": 0.55, "small": 0.75, "normal": 1.0, "large": 1.25}
POSITION = {
    "center": (0.0, 0.0),
    "left": (-5.0, 0.0),
    "right": (5.0, 0.0),
    "up": (0.0, -5.0),
    "down": (0.0, 5.0),
}
NOISE = {"none": 0.0, "low": 0.1, "high": 0.3}
BLUR = {"none": 0.0, "slight": 0.8, "strong": 1.6}
#: value -> (gain, offset) of x -> offset + gain * x; "inverted" is 1 - x
CONTRAST = {"normal": (1.0, 0.0), "low": (0.4, 0.3), "faint": (0.3, 0.0), "inverted": (-1.0, 1.0)}
#: value -> (row slice, column slice) of the erased band, in the 28×28 frame of the source digit
Band = tuple[tuple[int, int], tuple[int, int]]
OCCLUSION: dict[str, Band | None] = {
    "none": None,
    "top": ((3, 11), (0, SIZE)),
    "bottom": ((17, 25), (0, SIZE)),
    "left": ((0, SIZE), (3, 11)),
    "right": ((0, SIZE), (17, 25)),
    "center": ((10, 18), (10, 18)),
}
#: value -> displacement amplitude in pixels of a smooth random field (Simard et al., 2003)
ELASTIC = {"none": 0.0, "mild": 2.0, "strong": 4.0}

VOCABULARY: dict[str, tuple[str, ...]] = {
    "rotation": tuple(ROTATION),
    "thickness": tuple(THICKNESS),
    "scale": tuple(SCALE),
    "position": tuple(POSITION),
    "noise": tuple(NOISE),
    "blur": tuple(BLUR),
    "contrast": tuple(CONTRAST),
    "occlusion": tuple(OCCLUSION),
    "elastic": tuple(ELASTIC),
}
NEUTRAL: dict[str, str] = {
    "rotation": "none",
    "thickness": "normal",
    "scale": "normal",
    "position": "center",
    "noise": "none",
    "blur": "none",
    "contrast": "normal",
    "occlusion": "none",
    "elastic": "none",
}
#: per-image jitter at ``jitter = 1``: degrees, relative zoom, pixels of shift / of band position
ROTATION_JITTER = 5.0
SCALE_JITTER = 0.05
POSITION_JITTER = 1.0
OCCLUSION_JITTER = 1.0
ELASTIC_SMOOTH = 4.0  # sigma (pixels) of the Gaussian that smooths the elastic field


class RenderParams(BaseModel):
    """Parameters of the ``render`` generator."""

    model_config = ConfigDict(extra="forbid")

    dataset: Literal["mnist", "fashion"] = "mnist"
    split: Literal["test", "train", "all"] = Field(
        "test", description="where the source images come from (test: unseen by classifiers)"
    )
    intensity: float = Field(1.0, gt=0, le=3, description="scales every transform's magnitude")
    jitter: float = Field(1.0, ge=0, le=3, description="scales the per-image jitter (0: none)")
    true_class: str | None = Field(
        None, description="class to render when no 'digit'/'class' attribute is given"
    )
    ignore_attributes: list[str] = Field(
        default_factory=list, description="attribute names the renderer ignores"
    )


class Draws:
    """The random numbers of ``n`` images: row ``i`` from ``default_rng([seed, i])``."""

    def __init__(self, n: int, seed: int) -> None:
        pick, rot, scale, shift, band, field, noise = [], [], [], [], [], [], []
        for i in range(n):
            rng = np.random.default_rng([seed, i])
            pick.append(rng.random())
            rot.append(rng.uniform(-1, 1))
            scale.append(rng.uniform(-1, 1))
            shift.append(rng.uniform(-1, 1, 2))
            band.append(rng.integers(-1, 2, 2))
            field.append(rng.uniform(-1, 1, (2, SIZE, SIZE)))
            noise.append(rng.standard_normal((SIZE, SIZE)))
        f32 = np.float32
        self.pick = np.asarray(pick, dtype=np.float64)
        self.rotation = torch.from_numpy(np.asarray(rot, dtype=f32))
        self.scale = torch.from_numpy(np.asarray(scale, dtype=f32))
        self.shift = torch.from_numpy(np.asarray(shift, dtype=f32).reshape(n, 2))
        self.band = np.asarray(band, dtype=np.int64).reshape(n, 2)
        self.field = torch.from_numpy(np.asarray(field, dtype=f32).reshape(n, 2, SIZE, SIZE))
        self.noise = torch.from_numpy(np.asarray(noise, dtype=f32).reshape(n, 1, SIZE, SIZE))


def _gaussian_kernel(sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    k = torch.exp(-0.5 * (t / sigma) ** 2)
    return k / k.sum()


def gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    """Separable Gaussian blur of ``(N, C, H, W)`` with zero padding (the background)."""
    if sigma <= 0:
        return x
    k = _gaussian_kernel(sigma).to(x)
    r = len(k) // 2
    c = x.shape[1]
    x = F.conv2d(x, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), padding=(0, r), groups=c)
    return F.conv2d(x, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), padding=(r, 0), groups=c)


def morph(x: torch.Tensor, steps: int) -> torch.Tensor:
    """Grey-scale dilation (``steps > 0``) or erosion (``< 0``) by ``|steps|`` half pixels."""
    if steps == 0:
        return x
    h, w = x.shape[-2:]
    up = F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)
    k = 2 * abs(steps) + 1
    if steps > 0:
        up = F.max_pool2d(up, k, stride=1, padding=abs(steps))
        return F.adaptive_avg_pool2d(up, (h, w))
    up = -F.max_pool2d(-up, k, stride=1, padding=abs(steps))
    out = F.adaptive_avg_pool2d(up, (h, w))
    # erosion also dims the ink (averaging thin strokes); restore each image's peak ink
    peak = x.amax(dim=(1, 2, 3), keepdim=True)
    return (out * peak / out.amax(dim=(1, 2, 3), keepdim=True).clamp_min(1e-6)).clamp(0, 1)


def affine_theta(
    angle_deg: torch.Tensor, zoom: torch.Tensor, shift_px: torch.Tensor
) -> torch.Tensor:
    """``(N, 2, 3)`` matrices for ``affine_grid`` (output -> input, normalised coordinates):
    rotate counter-clockwise on screen by ``angle``, zoom by ``zoom``, move by ``shift_px``
    (x right, y down)."""
    a = torch.deg2rad(angle_deg)
    cos, sin = torch.cos(a), torch.sin(a)
    inv = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)
    inv = inv / zoom.view(-1, 1, 1)
    t = shift_px * (2.0 / SIZE)
    return torch.cat([inv, -(inv @ t.unsqueeze(-1))], dim=-1)


def _band(lo: int, hi: int, move: int) -> slice:
    """Rows (or columns) ``lo:hi`` moved by ``move``; a full-width band stays full."""
    if (lo, hi) == (0, SIZE):
        return slice(0, SIZE)
    return slice(min(max(0, lo + move), SIZE), min(max(0, hi + move), SIZE))


def _lookup(table: dict, attribute: str, value: str):  # type: ignore[no-untyped-def,type-arg]
    if value not in table:
        allowed = ", ".join(table)
        raise ValueError(f"attribute {attribute!r}: unknown value {value!r}; allowed: {allowed}")
    return table[value]


class Render:
    """Generator ``render`` (contract :class:`fxcore.contracts.Generator`, ``channels = 1``)."""

    channels = 1

    def __init__(
        self,
        dataset: str = "mnist",
        split: str = "test",
        intensity: float = 1.0,
        jitter: float = 1.0,
        true_class: str | None = None,
        ignore_attributes: Sequence[str] = (),
    ) -> None:
        data = load_dataset(dataset)
        images, labels = data.split(split)  # type: ignore[arg-type]
        self.dataset = dataset
        self.classes: list[str] = list(data.classes)
        self.images = to_tensor(images)
        self.pools = [np.flatnonzero(labels == k) for k in range(len(self.classes))]
        self.intensity = intensity
        self.jitter = jitter
        self.ignore = set(ignore_attributes)
        if true_class is not None:
            self._class_index(true_class, "true_class")
        self.true_class = true_class

    # ------------------------------------------------------------------ classes
    def _class_index(self, name: str, where: str) -> int:
        if name in self.classes:
            return self.classes.index(name)
        folded = [c.lower() for c in self.classes]
        if name.lower() in folded:
            return folded.index(name.lower())
        raise ValueError(f"{where}: unknown class {name!r}; allowed: {', '.join(self.classes)}")

    def resolve_class(self, prompt: str, attributes: dict[str, str]) -> int:
        """Class from the ``digit``/``class`` attribute, else ``true_class``, else the one class
        name that occurs in ``prompt`` as a word."""
        for key in CLASS_ATTRIBUTES:
            if key in attributes and key not in self.ignore:
                return self._class_index(attributes[key], f"attribute {key!r}")
        if self.true_class is not None:
            return self._class_index(self.true_class, "true_class")
        found = {
            k
            for k, c in enumerate(self.classes)
            if re.search(rf"(?<![\w/-]){re.escape(c)}(?![\w/-])", prompt, re.IGNORECASE)
        }
        if len(found) == 1:
            return found.pop()
        raise ValueError(
            f"cannot tell which class to render from prompt {prompt!r}: give a 'digit' or "
            "'class' attribute, or the generator param true_class"
        )

    def check(self, attributes: dict[str, str]) -> dict[str, str]:
        """The transform settings (neutral where not given); errors name attribute and values."""
        settings = dict(NEUTRAL)
        for key, value in attributes.items():
            if key in self.ignore or key in CLASS_ATTRIBUTES:
                continue
            if key not in VOCABULARY:
                known = ", ".join([*CLASS_ATTRIBUTES, *VOCABULARY])
                raise ValueError(
                    f"attribute {key!r} is not rendered by fxcore-mnist/render (known: {known}); "
                    "list it in the generator param ignore_attributes to ignore it"
                )
            if value not in VOCABULARY[key]:
                allowed = ", ".join(VOCABULARY[key])
                raise ValueError(f"attribute {key!r}: unknown value {value!r}; allowed: {allowed}")
            settings[key] = value
        return settings

    def check_attributes(self, attributes: dict[str, Sequence[str]]) -> None:
        """Every value of a domain's attributes can be rendered (the optional method of the
        Generator contract, called before a run starts); errors name attribute and value."""
        class_key = next((k for k in CLASS_ATTRIBUTES if k in attributes and k not in self.ignore),
                         None)
        for key, values in attributes.items():
            for value in values:
                if key == class_key:
                    self._class_index(value, f"attribute {key!r}")
                else:
                    self.check({key: value})

    # --------------------------------------------------------------- generate
    def generate(self, prompt: str, attributes: dict[str, str], n: int, seed: int) -> torch.Tensor:
        """``(n, 1, 28, 28)`` images in ``[0, 1]``; image ``i`` depends on ``(seed, i,
        attributes)`` only."""
        if n < 0:
            raise ValueError(f"n must be >= 0, got {n}")
        attributes = dict(attributes)
        settings = self.check(attributes)
        pool = self.pools[self.resolve_class(prompt, attributes)]
        draws = Draws(n, seed)
        if n == 0:
            return torch.zeros(0, 1, SIZE, SIZE)
        x = self.images[pool[(draws.pick * len(pool)).astype(np.int64)]].clone()
        return self.transform(x, settings, draws)

    def transform(self, x: torch.Tensor, s: dict[str, str], d: Draws) -> torch.Tensor:
        """Apply the settings ``s`` (attribute -> value) to source images ``x (n, 1, 28, 28)``."""
        amp = self.intensity
        x = morph(x, _lookup(THICKNESS, "thickness", s["thickness"]))
        x = self._occlude(x, _lookup(OCCLUSION, "occlusion", s["occlusion"]), d)
        x = self._resample(x, s, d)
        x = gaussian_blur(x, amp * _lookup(BLUR, "blur", s["blur"]))
        gain, offset = _lookup(CONTRAST, "contrast", s["contrast"])
        if (gain, offset) != (1.0, 0.0):
            x = offset + gain * x
        sigma = amp * _lookup(NOISE, "noise", s["noise"])
        if sigma > 0:
            x = x + sigma * d.noise
        return x.clamp_(0.0, 1.0)

    def _occlude(self, x: torch.Tensor, band: Band | None, d: Draws) -> torch.Tensor:
        if band is None:
            return x
        (r0, r1), (c0, c1) = band
        step = np.rint(d.band * OCCLUSION_JITTER * self.jitter).astype(np.int64)
        for i in range(len(x)):
            dr, dc = (int(v) for v in step[i])
            x[i, :, _band(r0, r1, dr), _band(c0, c1, dc)] = 0.0
        return x

    def _resample(self, x: torch.Tensor, s: dict[str, str], d: Draws) -> torch.Tensor:
        angle0 = _lookup(ROTATION, "rotation", s["rotation"])
        zoom0 = _lookup(SCALE, "scale", s["scale"])
        shift0 = _lookup(POSITION, "position", s["position"])
        elastic = _lookup(ELASTIC, "elastic", s["elastic"])
        if angle0 == 0 and zoom0 == 1 and shift0 == (0.0, 0.0) and elastic == 0:
            return x
        amp, jit = self.intensity, self.jitter
        n = len(x)
        angle = torch.full((n,), amp * angle0)
        if angle0 != 0:
            angle = angle + jit * ROTATION_JITTER * d.rotation
        zoom = torch.full((n,), math.exp(amp * math.log(zoom0)))
        if zoom0 != 1:
            zoom = zoom * (1 + jit * SCALE_JITTER * d.scale)
        shift = torch.tensor(shift0).repeat(n, 1) * amp
        if shift0 != (0.0, 0.0):
            shift = shift + jit * POSITION_JITTER * d.shift
        grid = F.affine_grid(affine_theta(angle, zoom, shift), [n, 1, SIZE, SIZE], False)
        if elastic > 0:
            field = gaussian_blur(d.field, ELASTIC_SMOOTH)
            field = field / field.abs().amax(dim=(2, 3), keepdim=True).clamp_min(1e-8)
            grid = grid + (amp * elastic * 2.0 / SIZE) * field.permute(0, 2, 3, 1)
        return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
