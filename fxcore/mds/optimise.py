"""GeValDi, Algorithm 1: maximally different samples by gradient ascent in a latent space.

For a latent generator ``g`` with prior ``p(z)``, classifiers ``p_1 .. p_M`` and a divergence
``D`` (``(M, N, C) -> (N,)``), each start solves::

    z* = argmax_z  D[{p_m(y | g(z, c))}_{m=1..M}] + λ · log p(z)

from ``z_init ~ p(z)`` with Adam or SGD for ``T`` steps; a class-conditional generator keeps its
condition ``c`` fixed. ``B`` starts are optimised together as one batch (the objective is a sum
over starts, and Adam/SGD update every coordinate on its own, so this equals ``B`` separate
runs). Every ``record_every`` steps and at step ``T`` a :class:`Trace` row holds, per start,
``D``, ``log p(z)``, ``Δz = ‖z − z_init‖₂ / ‖z_init‖₂`` and each classifier's top-n.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fxcore import checks
from fxcore.contracts import Classifier, DeclaresChannels, LatentGenerator
from fxcore.errors import ConfigError, RunError
from fxcore.mds.records import relative_change, top_n


@dataclass
class MdsSetup:
    """Checked components of one run: generator ``g``, classifiers ``p_m``, divergence ``D``.

    ``columns[m]`` reorders classifier ``m``'s output columns to classifier 0's class order.
    ``who``: how check errors name the generator and each classifier (default: their names).
    """

    generator: Any
    classifiers: list[Any]
    divergence: Callable[[torch.Tensor], torch.Tensor]
    names: list[str]
    generator_name: str = "generator"
    classes: list[str] = field(default_factory=list)
    columns: list[torch.Tensor | None] = field(default_factory=list)
    generator_who: str = ""
    who: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.generator_who = self.generator_who or checks.describe(
            "generator", self.generator_name)
        self.who = self.who or [checks.describe("classifier", n) for n in self.names]

    @property
    def m(self) -> int:
        return len(self.classifiers)

    def probabilities(self, images: torch.Tensor, step: int | None = None) -> torch.Tensor:
        """``(M, N, C)``: every classifier's probabilities (checked), columns in one order."""
        out = []
        where = f"at step {step}" if step is not None else ""
        for clf, who, cols in zip(self.classifiers, self.who, self.columns, strict=True):
            x = _match_channels(images, _channels(clf))
            p = clf.predict_proba(x)
            checks.probabilities(p, len(images), len(clf.classes), who, where)
            if cols is not None:
                p = p[:, cols]
            out.append(p)
        return torch.stack(out)


def _channels(classifier: Any) -> int | None:
    """The channels a classifier declares (:class:`~fxcore.contracts.DeclaresChannels`)."""
    return classifier.channels if isinstance(classifier, DeclaresChannels) else None


def _match_channels(x: torch.Tensor, channels: int | None) -> torch.Tensor:
    if channels is None or channels == x.shape[1]:
        return x
    if x.shape[1] == 1:
        return x.expand(-1, channels, -1, -1)
    if channels == 1:
        return x.mean(1, keepdim=True)
    return x


def check_setup(setup: MdsSetup, conditions: Sequence[str] | None = None) -> MdsSetup:
    """Refuse components ``mds`` cannot use, with one-line errors naming the config field.

    Checks: a latent generator; at least two classifiers; each declares ``differentiable`` and
    passes gradients from its probabilities back to the image; all have the same class set
    (columns are reordered when only the order differs); ``conditions`` are the generator's.
    """
    g = setup.generator
    if not isinstance(g, LatentGenerator):
        raise ConfigError(
            f"generator: {setup.generator_name} is not a latent generator (it needs latent_dim, "
            "sample_latent, decode and log_prior; see fxcore.contracts.LatentGenerator)"
        )
    if setup.m < 2:
        raise ConfigError(
            f"classifiers: mds needs at least 2 classifiers to disagree, got {setup.m}"
        )
    for i, (clf, name) in enumerate(zip(setup.classifiers, setup.names, strict=True)):
        if not (isinstance(clf, Classifier) and clf.differentiable):
            raise ConfigError(
                f"classifiers.{i}: {name} is not differentiable (differentiable = False); "
                "mds follows gradients from the probabilities back to the latent"
            )
    classes = [str(c) for c in setup.classifiers[0].classes]
    columns: list[torch.Tensor | None] = [None]
    for i, (clf, name) in enumerate(zip(setup.classifiers, setup.names, strict=True)):
        if i == 0:
            continue
        other = [str(c) for c in clf.classes]
        if other == classes:
            columns.append(None)
            continue
        missing, extra = sorted(set(classes) - set(other)), sorted(set(other) - set(classes))
        if missing or extra or len(other) != len(classes):
            raise ConfigError(
                f"classifiers.{i}: {name} has other classes than {setup.names[0]} "
                f"(missing {missing[:5]}, extra {extra[:5]}, {len(other)} vs {len(classes)}); "
                "all classifiers must predict the same class set"
            )
        columns.append(torch.tensor([other.index(c) for c in classes]))
    setup.classes, setup.columns = classes, columns
    if conditions is not None:
        valid = g.conditions
        if valid is None:
            raise ConfigError(
                f"conditions: {setup.generator_name} is unconditional; remove 'conditions'"
            )
        bad = [c for c in conditions if c not in list(valid)]
        if bad:
            raise ConfigError(
                f"conditions: {bad[0]!r} is not a condition of {setup.generator_name} "
                f"(valid: {', '.join(map(str, valid))})"
            )
    _probe_gradients(setup)
    return setup


def _probe_gradients(setup: MdsSetup) -> None:
    """Each classifier must pass a gradient from its top probability back to the image."""
    g = setup.generator
    cond = condition_tensor(g, None, [0])
    with torch.no_grad():
        image = g.decode(g.sample_latent(1, seed=0), cond)
    checks.images(image, 1, setup.generator_who, "(the gradient probe's image)")
    for i, (clf, name) in enumerate(zip(setup.classifiers, setup.names, strict=True)):
        x = image.detach().clone().requires_grad_(True)
        try:  # a RunError from the check is not a RuntimeError: it ends the run as it is
            p = clf.predict_proba(_match_channels(x, _channels(clf)))
            checks.probabilities(p, 1, len(clf.classes), setup.who[i], "(the gradient probe)")
            (grad,) = torch.autograd.grad(p.max(dim=1).values.sum(), x, allow_unused=True)
        except RuntimeError:
            grad = None
        if grad is None:
            raise ConfigError(
                f"classifiers.{i}: {name} declares differentiable = True but no gradient flows "
                "from its probabilities to the image (detached or computed outside torch)"
            )


def condition_tensor(
    generator: LatentGenerator, conditions: Sequence[str] | None, starts: Sequence[int]
) -> torch.Tensor | None:
    """Condition indices (into ``generator.conditions``) for global start numbers ``starts``.

    Start ``i`` gets ``conditions[i % len(conditions)]`` (default: all generator conditions).
    ``None`` for an unconditional generator.
    """
    if generator.conditions is None:
        return None
    valid = [str(c) for c in generator.conditions]
    names = list(conditions) if conditions else valid
    return torch.tensor([valid.index(names[i % len(names)]) for i in starts], dtype=torch.long)


@dataclass
class Trace:
    """Recorded rows of one optimised batch; arrays are ``(R, N, ...)`` over R recorded steps."""

    steps: list[int] = field(default_factory=list)
    divergence: list[np.ndarray] = field(default_factory=list)
    log_prior: list[np.ndarray] = field(default_factory=list)
    dz: list[np.ndarray] = field(default_factory=list)
    top_classes: list[np.ndarray] = field(default_factory=list)  # (M, N, n) per row
    top_probs: list[np.ndarray] = field(default_factory=list)


@dataclass
class BatchResult:
    z_init: torch.Tensor
    z_final: torch.Tensor
    condition: torch.Tensor | None
    trace: Trace


def optimise_batch(
    setup: MdsSetup,
    z_init: torch.Tensor,
    condition: torch.Tensor | None,
    steps: int,
    lr: float,
    prior_weight: float,
    optimizer: str = "adam",
    record_every: int = 10,
    top: int = 3,
    on_step: Callable[[int, torch.Tensor], None] | None = None,
) -> BatchResult:
    """Algorithm 1 for one batch of starts ``z_init (N, d)``; returns the optimised latents."""
    g, div = setup.generator, setup.divergence
    z = z_init.detach().clone().requires_grad_(True)
    opt_cls = torch.optim.Adam if optimizer == "adam" else torch.optim.SGD
    opt = opt_cls([z], lr=lr)
    trace = Trace()
    for t in range(steps + 1):
        x = g.decode(z, condition)
        checks.images(x, len(z), setup.generator_who,
                      f"at step {t} (of {steps}); lower lr or raise prior_weight")
        probs = setup.probabilities(x, step=t)
        d = div(probs)
        lp = g.log_prior(z)
        if t % record_every == 0 or t == steps:
            idx, val = top_n(probs, top)
            trace.steps.append(t)
            trace.divergence.append(d.detach().cpu().numpy().astype(np.float64))
            trace.log_prior.append(lp.detach().cpu().numpy().astype(np.float64))
            trace.dz.append(relative_change(z.detach(), z_init).cpu().numpy().astype(np.float64))
            trace.top_classes.append(idx)
            trace.top_probs.append(val)
        if on_step is not None:
            on_step(t, d.detach())
        if t == steps:
            break
        objective = d + prior_weight * lp
        opt.zero_grad()
        (-objective.sum()).backward()
        if z.grad is None or not torch.isfinite(z.grad).all():
            raise RunError(f"no finite gradient reached the latent z at step {t}")
        opt.step()
    return BatchResult(z_init.detach().clone(), z.detach().clone(), condition, trace)
