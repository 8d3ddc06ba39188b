"""The explore pipeline: the BO paper's Algorithm 1 (generate -> filter -> classify -> select).

::

    E <- {}                                       evaluations so far (Observations)
    while budget left:
        S_t <- selector.propose(E, candidates, k)  k subdomains not evaluated yet
        for s in S_t:
            X_s <- generate(prompt(s)) until |filter(X_s)| = m or max_attempts rounds
            acc_s <- |{x in X_s : f(x) = y_s}| / |X_s|     y_s = true class (group) of s
            E <- E + {(s, acc_s)}                 recorded in the run store at once

Resume: every proposal batch is a ``proposal`` record (key = step). A resumed run replays
``selector.propose`` with the same observations, checks it proposes the same subdomains (the
Selector contract makes selectors deterministic given seed + call sequence) and evaluates only
what is missing. Image seeds derive from (run seed, subdomain id, round), so a resumed run
regenerates the same images.

Multi-fidelity (``[fidelity]``, :mod:`fxcore.fidelity`): a subdomain is evaluated in stages (e.g.
10 then 50 images); after each stage but the last, the sequential test decides whether it is
clearly not a failure and stops. Stage j draws images from generation rounds
``j·max_attempts + r``, so stage 0 is the same images as an unstaged run's first ones, and every
stage is a ``stage`` record (key ``<subdomain id>/<j>``: its counts) written when it is done; the
``evaluation`` record (totals over the stages) follows when the subdomain stops or reaches full
fidelity. A resumed run reuses the recorded stages and continues a subdomain at the stage it was
killed in. Selectors see ``n_images`` (= ``n_kept``) with each observation
(:class:`~fxcore.fidelity.FidelityObservations`).
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from fxcore import checks
from fxcore.contracts import Classifier, Filter, Generator, Observations, Selector
from fxcore.domain import SubdomainSpace
from fxcore.errors import RunError
from fxcore.fidelity import FidelityObservations, Stages, rank_threshold
from fxcore.grouping import ClassGrouping
from fxcore.progress import progress
from fxcore.schemas import Evaluation, EvaluationDomain, ExploreConfig, Subdomain
from fxcore.stats import clopper_pearson, wilson
from fxcore.store import RunStore, write_atomic

SAMPLE_SIDE = 96  # saved sample images are shrunk to at most this many pixels a side


def image_seed(run_seed: int, subdomain: str, round_: int) -> int:
    """Seed of generation round ``round_`` of a subdomain: stable across runs and resumes."""
    digest = hashlib.sha256(f"{run_seed}:{subdomain}:{round_}".encode()).digest()
    return int.from_bytes(digest[:4], "big") & 0x7FFFFFFF


def make_grouping(config: ExploreConfig, classifier: Classifier) -> ClassGrouping:
    """The class grouping of the domain's true labels over ``classifier.classes``."""
    return ClassGrouping.build(
        list(classifier.classes), config.domain.true_classes(), config.group_members()
    )


@dataclass
class SubdomainResult:
    """An evaluation plus the sample of kept images saved for the report."""

    evaluation: Evaluation
    images: torch.Tensor | None = None
    predicted: list[str] = field(default_factory=list)
    p_true: np.ndarray | None = None


def evaluate_subdomain(
    sub: Subdomain,
    domain: EvaluationDomain,
    generator: Generator,
    filter: Filter | None,
    classifier: Classifier,
    grouping: ClassGrouping,
    config: ExploreConfig,
    step: int = 0,
    names: dict[str, str] | None = None,
    want: int | None = None,
    first_round: int = 0,
) -> SubdomainResult:
    """Generate until ``images_per_subdomain`` (or ``want``) pass the filter (or ``max_attempts``
    rounds, seeded as rounds ``first_round`` on), classify the kept images and score them
    against the subdomain's true class.

    Every component output is checked (:mod:`fxcore.checks`) before it is used: a bad one ends
    the run with a :class:`RunError` naming the component (``names``: kind -> description).
    """
    who = names or component_names(config)
    on = f"on subdomain {sub.id} ({sub.values})"
    where = f"{on}; nothing was recorded for it, fix the component and pass --resume"
    start = time.perf_counter()
    want = config.images_per_subdomain if want is None else want
    kept: list[torch.Tensor] = []
    n_generated = n_kept = 0
    with torch.no_grad():
        for round_ in range(config.max_attempts):
            need = want - n_kept
            if round_ == 0:
                n = need
            else:  # scale the next round by the keep rate seen so far
                rate = max(n_kept / max(n_generated, 1), 0.25)
                n = min(4 * need, math.ceil(need / rate))
            seed = image_seed(config.seed, sub.id, first_round + round_)
            gen = who["generator"]
            images = _call(gen, on, generator.generate, sub.prompt, sub.values, n, seed)
            checks.images(images, n, gen, where)
            n_generated += n
            if filter is not None:
                out = _call(who["filter"], on, filter.keep, images, sub, domain)
                mask = checks.filter_output(out, n, who["filter"], where)
                images = images[mask.to(images.device)]
            images = images[:need]
            kept.append(images)
            n_kept += len(images)
            if n_kept >= want:
                break
        base = dict(
            subdomain_id=sub.id,
            index=sub.index,
            values=sub.values,
            prompt=sub.prompt,
            n_generated=n_generated,
            n_kept=n_kept,
            step=step,
        )
        if n_kept == 0:
            ev = Evaluation(status="no_valid_images", seconds=time.perf_counter() - start, **base)
            return SubdomainResult(ev)
        x = torch.cat(kept)
        device = getattr(classifier, "device", None)
        clf = who["classifier"]
        probs = _call(clf, on, classifier.predict_proba, x.to(device) if device else x)
        checks.probabilities(probs, len(x), len(classifier.classes), clf, where)
    label = domain.true_class_of(sub.values)
    correct, p_true, predicted = grouping.score(probs, label, config.decision)
    k = int(correct.sum())
    interval = clopper_pearson if config.interval == "clopper-pearson" else wilson
    low, high = interval(k, n_kept, config.confidence_level)
    ev = Evaluation(
        n_correct=k,
        accuracy=k / n_kept,
        accuracy_low=float(low),
        accuracy_high=float(high),
        mean_confidence=float(np.mean(p_true)),
        seconds=time.perf_counter() - start,
        **base,
    )
    s = config.save_images
    return SubdomainResult(ev, x[:s].detach().cpu(), predicted[:s], p_true[:s])


def component_names(config: ExploreConfig) -> dict[str, str]:
    """kind -> how errors name the config's component (``generator 'digits/render'``)."""
    specs = {k: getattr(config, k) for k in ("generator", "filter", "classifier", "selector")}
    return {k: checks.describe(k, s.name) for k, s in specs.items() if s is not None}


def _call(who: str, context: str, fn: Any, *args: Any) -> Any:
    """``fn(*args)``; a component's exception becomes a RunError naming it and ``context``."""
    try:
        return fn(*args)
    except (RunError, KeyboardInterrupt):
        raise
    except Exception as exc:  # noqa: BLE001 - a component failure ends the run, kept so far
        raise RunError(
            f"{who} failed {context}: {type(exc).__name__}: {exc}; "
            "the run keeps what was recorded, fix the cause and pass --resume"
        ) from exc


def save_samples(store: RunStore, result: SubdomainResult) -> None:
    """Write the saved kept images of a subdomain as ``artefacts/samples/<id>.npz`` (uint8)."""
    if result.images is None or result.p_true is None or len(result.images) == 0:
        return
    x = result.images.float()
    side = max(x.shape[-2:])
    if side > SAMPLE_SIDE:
        scale = SAMPLE_SIDE / side
        size = (max(1, round(x.shape[-2] * scale)), max(1, round(x.shape[-1] * scale)))
        x = torch.nn.functional.interpolate(x, size=size, mode="bilinear", antialias=True)
    arr = (x.clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    path = store.artefact(f"samples/{result.evaluation.subdomain_id}.npz")
    import io

    buf = io.BytesIO()
    np.savez_compressed(
        buf, images=arr, predicted=np.array(result.predicted), p_true=result.p_true
    )
    write_atomic(path, buf.getvalue())


@dataclass
class ExploreResult:
    """What a run found: its evaluations (in order) and where it is."""

    run_dir: str
    evaluations: list[Evaluation]
    n_subdomains: int
    seconds: float
    complete: bool = True

    def worst(self, n: int = 5) -> list[Evaluation]:
        ok = [e for e in self.evaluations if e.accuracy is not None]
        return sorted(ok, key=lambda e: (e.accuracy, e.accuracy_high, e.index))[:n]

    def summary(self) -> dict[str, Any]:
        ok = [e.accuracy for e in self.evaluations if e.accuracy is not None]
        return {
            "run_dir": self.run_dir,
            "n_subdomains": self.n_subdomains,
            "n_evaluated": len(self.evaluations),
            "n_no_valid_images": sum(e.status == "no_valid_images" for e in self.evaluations),
            "mean_accuracy": float(np.mean(ok)) if ok else None,
            "seconds": round(self.seconds, 3),
            "worst": [
                {"values": e.values, "accuracy": e.accuracy, "n_kept": e.n_kept}
                for e in self.worst()
            ],
        }


def run_explore(
    config: ExploreConfig,
    generator: Generator,
    classifier: Classifier,
    filter: Filter | None,
    selector: Selector,
    store: RunStore,
    grouping: ClassGrouping | None = None,
    show_progress: bool = True,
    names: dict[str, str] | None = None,
    space: SubdomainSpace | None = None,
) -> ExploreResult:
    """Algorithm 1: propose, evaluate and record subdomains until the budget is used.

    ``names``: kind -> how errors name each component (default: the config's component names);
    ``space``: the domain's subdomains when already enumerated.
    """
    names = names or component_names(config)
    space = space if space is not None else SubdomainSpace(config.domain)
    grouping = grouping or make_grouping(config, classifier)
    done = {e["index"]: Evaluation.model_validate(e) for e in store.records("evaluation")}
    recorded = [p["rows"] for p in store.records("proposal")]
    budget = min(config.budget or len(space), len(space))
    stages = Stages(tuple(config.fidelity.stages), config.fidelity.error) \
        if config.fidelity is not None else None
    staged: dict[str, dict[int, dict[str, Any]]] = {}  # subdomain id -> stage -> record
    for rec in store.records("stage") if stages is not None else []:
        staged.setdefault(rec["subdomain_id"], {})[rec["stage"]] = rec
    selector.setup(space, config.seed)

    order: list[Evaluation] = []  # evaluations in proposal order (the selector's view)
    proposed = np.zeros(len(space), dtype=bool)
    spent = 0.0
    step = 0
    with progress("explore", total=budget, enabled=show_progress) as bar:
        bar.advance(len(done))
        while True:
            n_done = int(proposed.sum())
            over_time = config.budget_seconds is not None and spent >= config.budget_seconds
            replaying = step < len(recorded)
            if not replaying and (n_done >= budget or over_time or proposed.all()):
                break
            candidates = np.flatnonzero(~proposed)
            k = min(config.batch_size, budget - n_done) if not replaying else len(recorded[step])
            rows = _propose(selector, _observations(order, stages is not None), candidates,
                            max(k, 1),
                            names["selector"], step)
            if replaying:
                if rows != recorded[step]:
                    raise RunError(
                        f"--resume: the selector proposed {rows} at step {step}, but the run "
                        f"recorded {recorded[step]}; it is not deterministic given its seed and "
                        "call sequence, so this run cannot be resumed"
                    )
            else:
                store.add("proposal", f"{step:06d}", {"step": step, "rows": rows})
            proposed[rows] = True
            for row in rows:
                ev = done.get(row)
                if ev is None and stages is not None:
                    sub = space[row]
                    level = failure_level(config, order, len(space))
                    ev = evaluate_staged(
                        sub, config.domain, generator, filter, classifier, grouping, config,
                        step, names, store, stages, level, staged.get(sub.id, {}),
                    )
                    with store.transaction():
                        store.add("evaluation", ev.subdomain_id, ev)
                    done[row] = ev
                    bar.advance(1, acc=ev.accuracy if ev.accuracy is not None else "none")
                elif ev is None:
                    result = evaluate_subdomain(
                        space[row], config.domain, generator, filter, classifier, grouping,
                        config, step, names,
                    )
                    ev = result.evaluation
                    save_samples(store, result)
                    with store.transaction():
                        store.add("evaluation", ev.subdomain_id, ev)
                    done[row] = ev
                    bar.advance(1, acc=ev.accuracy if ev.accuracy is not None else "none")
                order.append(ev)
                spent += ev.seconds
                if config.budget_seconds is not None and spent >= config.budget_seconds:
                    break  # the time budget ends the run after the current subdomain
            step += 1
    evaluations = store_order(store)
    return ExploreResult(str(store.path), evaluations, len(space), spent)


def store_order(store: RunStore) -> list[Evaluation]:
    return [Evaluation.model_validate(e) for e in store.records("evaluation")]


def _observations(order: list[Evaluation], with_images: bool = False) -> Observations:
    """Rows with an accuracy, in evaluation order (``no_valid_images`` rows carry none); with
    ``with_images`` (multi-fidelity runs) also the images behind each accuracy."""
    ok = [e for e in order if e.accuracy is not None]
    rows = np.array([e.index for e in ok], dtype=np.int64)
    accuracy = np.array([e.accuracy for e in ok], dtype=np.float64)
    if with_images:
        return FidelityObservations(rows, accuracy, np.array([e.n_kept for e in ok],
                                                             dtype=np.int64))
    return Observations(rows=rows, accuracy=accuracy)


def failure_level(config: ExploreConfig, order: list[Evaluation], n_subdomains: int
                  ) -> float | None:
    """The accuracy below which a subdomain is a failure: ``[fidelity] threshold``, or the safe
    estimate of the worst ``fraction``'s cut-off from the evaluations so far (``None``: not yet
    known, nothing stops)."""
    assert config.fidelity is not None
    if config.fidelity.threshold is not None:
        return config.fidelity.threshold
    acc = [e.accuracy for e in order if e.accuracy is not None]
    return rank_threshold(acc, n_subdomains, config.fidelity.fraction)


def evaluate_staged(
    sub: Subdomain,
    domain: EvaluationDomain,
    generator: Generator,
    filter: Filter | None,
    classifier: Classifier,
    grouping: ClassGrouping,
    config: ExploreConfig,
    step: int,
    names: dict[str, str],
    store: RunStore,
    stages: Stages,
    level: float | None,
    recorded: dict[int, dict[str, Any]],
) -> Evaluation:
    """Evaluate ``sub`` stage by stage (``recorded``: stages done before a resume, reused),
    stopping after a stage when :meth:`Stages.stop` says it is clearly not a failure at
    ``level``; each new stage is a ``stage`` record. Returns the evaluation over every image."""
    totals = {"n_generated": 0, "n_kept": 0, "n_correct": 0, "confidence": 0.0, "seconds": 0.0}
    for j, size in enumerate(stages.sizes):
        rec = recorded.get(j)
        if rec is None:
            result = evaluate_subdomain(
                sub, domain, generator, filter, classifier, grouping, config, step, names,
                want=size - int(totals["n_kept"]), first_round=j * config.max_attempts,
            )
            e = result.evaluation
            if j == 0:
                save_samples(store, result)
            rec = {"subdomain_id": sub.id, "stage": j, "step": step,
                   "n_generated": e.n_generated, "n_kept": e.n_kept, "n_correct": e.n_correct,
                   "confidence": (e.mean_confidence or 0.0) * e.n_kept, "seconds": e.seconds}
            store.add("stage", f"{sub.id}/{j}", rec)
        for key in totals:
            totals[key] += rec[key]
        n_kept, n_correct = int(totals["n_kept"]), int(totals["n_correct"])
        estimated = config.fidelity is not None and config.fidelity.threshold is None
        if j < len(stages.sizes) - 1 and n_kept > 0 and \
                stages.stop(n_correct, n_kept, level, stages.total, inclusive=estimated):
            break
    base = dict(subdomain_id=sub.id, index=sub.index, values=sub.values, prompt=sub.prompt,
                n_generated=int(totals["n_generated"]), n_kept=n_kept, step=step,
                seconds=totals["seconds"])
    if n_kept == 0:
        return Evaluation(status="no_valid_images", **base)
    interval = clopper_pearson if config.interval == "clopper-pearson" else wilson
    low, high = interval(n_correct, n_kept, config.confidence_level)
    return Evaluation(n_correct=n_correct, accuracy=n_correct / n_kept, accuracy_low=float(low),
                      accuracy_high=float(high), mean_confidence=totals["confidence"] / n_kept,
                      **base)


def _propose(
    selector: Selector, observed: Observations, candidates: np.ndarray, k: int, who: str,
    step: int,
) -> list[int]:
    raw = _call(who, f"at step {step}", selector.propose, observed, candidates, k)
    where = f"at step {step}; nothing was recorded for this step, fix it and pass --resume"
    return checks.picks(raw, candidates, k, who, where)
