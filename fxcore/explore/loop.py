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
from collections.abc import Generator as PyGenerator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from fxcore import checks
from fxcore.contracts import (
    Classifier,
    Executor,
    Filter,
    Generator,
    Observations,
    OnDevice,
    Selector,
)
from fxcore.domain import SubdomainSpace
from fxcore.errors import RunError
from fxcore.fidelity import FidelityObservations, Stages, rank_threshold
from fxcore.grouping import ClassGrouping
from fxcore.progress import progress
from fxcore.schemas import Evaluation, EvaluationDomain, ExploreConfig, Subdomain
from fxcore.stats import clopper_pearson, wilson
from fxcore.store import RunStore, write_atomic

if TYPE_CHECKING:
    from fxcore.explore.work import EvalTask
    from fxcore.progress import Progress

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
        device = classifier.device if isinstance(classifier, OnDevice) else None
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
                {"values": e.values, "accuracy": e.accuracy, "accuracy_low": e.accuracy_low,
                 "accuracy_high": e.accuracy_high, "n_correct": e.n_correct, "n_kept": e.n_kept}
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
    executor: Executor | None = None,
) -> ExploreResult:
    """Algorithm 1: propose, evaluate and record subdomains until the budget is used.

    ``names``: kind -> how errors name each component (default: the config's component names);
    ``space``: the domain's subdomains when already enumerated; ``executor``: a started
    :class:`~fxcore.contracts.Executor` that evaluates the subdomains of a batch (default: the
    kernel's ``local``, one after another with the components given here; a remote executor's
    workers hold their own, and ``generator``/``classifier``/``filter`` may then be ``None``).
    The caller closes an executor it passes.
    """
    names = names or component_names(config)
    space = space if space is not None else SubdomainSpace(config.domain)
    own = executor is None
    if executor is None or not executor.remote:
        grouping = grouping or make_grouping(config, classifier)
    if executor is None:
        from fxcore.builtins.executors import LocalExecutor
        from fxcore.explore.work import ExploreWorker, make_worker

        executor = LocalExecutor()
        assert grouping is not None
        executor.start(make_worker, None, local=ExploreWorker.from_parts(
            config, generator, filter, classifier, grouping, space, names))
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
            batch = _Batch(config, space, store, executor, stages, staged, done, order, bar)
            evaluated = batch.evaluations(rows, step)
            try:
                for ev in evaluated:
                    order.append(ev)
                    spent += ev.seconds
                    if config.budget_seconds is not None and spent >= config.budget_seconds:
                        break  # the time budget ends the run after the current subdomain
            finally:
                evaluated.close()  # tasks still in flight are cancelled
            step += 1
    if own:
        executor.close()
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


def stage_record(sub: Subdomain, stage: int, step: int, result: SubdomainResult
                 ) -> dict[str, Any]:
    """The ``stage`` record of stage ``stage`` of ``sub``: its counts."""
    e = result.evaluation
    return {"subdomain_id": sub.id, "stage": stage, "step": step,
            "n_generated": e.n_generated, "n_kept": e.n_kept, "n_correct": e.n_correct,
            "confidence": (e.mean_confidence or 0.0) * e.n_kept, "seconds": e.seconds}


@dataclass
class _Row:
    """One proposed subdomain on its way through the executor: its evaluation once known
    (``fresh``: made now, still to be recorded) or the multi-fidelity stage it is at."""

    row: int
    sub: Subdomain
    ev: Evaluation | None
    stages: dict[int, dict[str, Any]]  # stage -> record (recorded before, or made now)
    stage: int = 0  # the next stage to account for
    totals: dict[str, float] = field(default_factory=lambda: dict.fromkeys(
        ("n_generated", "n_kept", "n_correct", "confidence", "seconds"), 0.0))
    busy: bool = False  # a task of it is in flight
    fresh: bool = False


@dataclass
class _Batch:
    """Evaluates the subdomains of one proposal through the executor and records them.

    The driver alone writes the store. Evaluations are recorded and handed out in proposal order
    whatever order the workers finish in; ``stage`` records and sample images as they arrive
    (each is keyed, deterministic, and reused by a resume). The executor gets the current
    subdomain's next task first and is kept busy (``executor.slots``) with the next subdomains'
    tasks whose need does not depend on evaluations not known yet: every task without
    ``[fidelity]``; with it, each subdomain's first stage, and every stage when the failure
    level is the fixed ``threshold``. With one slot (the ``local`` executor) this is exactly the
    sequential loop: one task at a time, in order.
    """

    config: ExploreConfig
    space: SubdomainSpace
    store: RunStore
    executor: Executor
    stages: Stages | None
    staged: dict[str, dict[int, dict[str, Any]]]
    done: dict[int, Evaluation]
    order: list[Evaluation]
    bar: Progress

    def evaluations(self, rows: list[int], step: int) -> PyGenerator[Evaluation, None, None]:
        """The evaluation of each of ``rows``, in order, each recorded before it is yielded.
        Closing the iterator early cancels the tasks still in flight."""
        work = [_Row(r, self.space[r], self.done.get(r),
                     dict(self.staged.get(self.space[r].id, {}))) for r in rows]
        position = {id(w): i for i, w in enumerate(work)}
        fidelity = self.config.fidelity
        fixed = self.stages is None or (fidelity is not None and fidelity.threshold is not None)
        threshold = fidelity.threshold if fidelity is not None else None
        inflight = 0

        def submit(w: _Row, task: EvalTask) -> None:
            nonlocal inflight
            self.executor.submit(position[id(w)], task)
            w.busy = True
            inflight += 1

        try:
            p = 0
            while p < len(work):
                w = work[p]
                if w.ev is None and not w.busy:
                    level = None if self.stages is None else \
                        failure_level(self.config, self.order, len(self.space))
                    task = self._next_task(w, step, level)
                    if task is not None:
                        submit(w, task)
                if w.ev is not None:
                    if w.fresh:
                        with self.store.transaction():
                            self.store.add("evaluation", w.ev.subdomain_id, w.ev)
                        self.done[w.row] = w.ev
                        acc = w.ev.accuracy
                        self.bar.advance(1, acc=acc if acc is not None else "none")
                    yield w.ev
                    p += 1
                    continue
                for q in work[p + 1:]:  # keep the workers busy with what is surely needed
                    if inflight >= self.executor.slots:
                        break
                    if q.ev is not None or q.busy:
                        continue
                    if fixed:
                        task = self._next_task(q, step, threshold)
                    else:  # the first stage is needed whatever the level turns out to be
                        task = self._next_task(q, step, None) if q.stage == 0 and \
                            0 not in q.stages else None
                    if task is not None:
                        submit(q, task)
                key, result = self.executor.wait()
                inflight -= 1
                self._arrived(work[key], result, step)
        finally:
            if inflight:
                self.executor.cancel()

    def _next_task(self, w: _Row, step: int, level: float | None) -> EvalTask | None:
        """The task ``w`` needs next; ``None`` when its evaluation is complete (``w.ev``).
        Recorded stages are used up first, each followed by the sequential test at ``level``."""
        from fxcore.explore.work import EvalTask

        if self.stages is None:
            return EvalTask(w.row, step)
        sizes = self.stages.sizes
        t = w.totals
        while True:
            rec = w.stages.get(w.stage)
            if rec is None:
                return EvalTask(w.row, step, w.stage, want=sizes[w.stage] - int(t["n_kept"]),
                                first_round=w.stage * self.config.max_attempts)
            for key in t:
                t[key] += rec[key]
            n_kept, n_correct = int(t["n_kept"]), int(t["n_correct"])
            estimated = self.config.fidelity is not None and self.config.fidelity.threshold is None
            if w.stage == len(sizes) - 1 or (n_kept > 0 and self.stages.stop(
                    n_correct, n_kept, level, self.stages.total, inclusive=estimated)):
                w.ev, w.fresh = self._staged_evaluation(w.sub, step, t), True
                return None
            w.stage += 1

    def _arrived(self, w: _Row, result: SubdomainResult, step: int) -> None:
        w.busy = False
        if self.stages is None:
            save_samples(self.store, result)
            w.ev, w.fresh = result.evaluation, True
            return
        rec = stage_record(w.sub, w.stage, step, result)
        if w.stage == 0:
            save_samples(self.store, result)
        self.store.add("stage", f"{w.sub.id}/{w.stage}", rec)
        w.stages[w.stage] = rec

    def _staged_evaluation(self, sub: Subdomain, step: int, t: dict[str, float]) -> Evaluation:
        """The evaluation over every image of the stages done."""
        config = self.config
        n_kept, n_correct = int(t["n_kept"]), int(t["n_correct"])
        base = dict(subdomain_id=sub.id, index=sub.index, values=sub.values, prompt=sub.prompt,
                    n_generated=int(t["n_generated"]), n_kept=n_kept, step=step,
                    seconds=t["seconds"])
        if n_kept == 0:
            return Evaluation(status="no_valid_images", **base)
        interval = clopper_pearson if config.interval == "clopper-pearson" else wilson
        low, high = interval(n_correct, n_kept, config.confidence_level)
        return Evaluation(n_correct=n_correct, accuracy=n_correct / n_kept,
                          accuracy_low=float(low), accuracy_high=float(high),
                          mean_confidence=t["confidence"] / n_kept, **base)


def _propose(
    selector: Selector, observed: Observations, candidates: np.ndarray, k: int, who: str,
    step: int,
) -> list[int]:
    raw = _call(who, f"at step {step}", selector.propose, observed, candidates, k)
    where = f"at step {step}; nothing was recorded for this step, fix it and pass --resume"
    return checks.picks(raw, candidates, k, who, where)
