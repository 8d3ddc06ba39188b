"""OPAL (Algorithm 1) and OPAL-AL (Algorithm 4): label items to a target accuracy α with the
least manual effort.

1. Split (:mod:`fxcore.label.split`): a fraction h of the items, drawn equally from clusters, is
   labelled by a person: a fine-tuning set and an optimisation set of size m.
2. Fine-tune each classifier on the fine-tuning set (when it has ``fit``).
3. Fit the labeller on the optimisation set: ``labeller.fit(probs (M, m, C), truth (m,), α)``.
4. Decide on the rest: auto-label where the policy says so, queue the others for the annotator.

OPAL-AL repeats 3–4, asking at most β queued items per round and moving them into the
optimisation set, until the policy queues at most β items; those are asked and the rest is
auto-labelled.

Everything is resumable: the split and the fine-tuned probabilities are stored in the run, every
answer goes to the append-only journal ``answers.jsonl`` before it is used, every final label is a
``decision`` record, and an annotator that has not answered yet (``file``) leaves the run
``waiting`` until ``--resume``. Manual effort counts every item a person labelled, the
fine-tuning and optimisation sets included.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from fxcore.contracts import Attachable, Exporting, LabelPolicy
from fxcore.errors import ConfigError, RunError
from fxcore.label.active import choose, uncertainty
from fxcore.label.annotators import AnnotationContext
from fxcore.label.baselines import agreed_scores
from fxcore.label.items import Items
from fxcore.label.journal import AnswerJournal
from fxcore.label.models import Model, check_proba
from fxcore.label.split import Split, split_items
from fxcore.schemas.label import ActiveConfig, SplitConfig
from fxcore.store import RunStore, write_atomic

STEPS = ("split", "annotate", "finetune", "optimise", "decide")


class OpalRun:
    """One label run over ``items`` with ``models``; call :meth:`run`."""

    def __init__(
        self,
        items: Items,
        models: Sequence[Model],
        labeller: Any,
        annotator: Any,
        target_accuracy: float,
        store: RunStore,
        split: SplitConfig | None = None,
        active: ActiveConfig | None = None,
        finetune: bool = True,
        seed: int = 0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if not 0 < target_accuracy <= 1:
            raise RunError(f"target_accuracy must be in (0, 1], got {target_accuracy}")
        self.items = items
        self.models = list(models)
        self.labeller = labeller
        self.annotator = annotator
        self.alpha = float(target_accuracy)
        self.store = store
        self.split_cfg = split or SplitConfig()
        self.active = active
        self.finetune = finetune
        self.seed = seed
        self.log = log or (lambda _msg: None)
        self.seconds: dict[str, float] = {s: 0.0 for s in STEPS}
        self.seconds.update(store.get_state("seconds", {}))
        self.journal = AnswerJournal(store.path / "answers.jsonl", items.classes)
        self.answers: dict[str, int] = {}
        self.context = AnnotationContext(
            item_ids=items.ids, classes=items.classes, folder=store.artefacts,
            truth=items.truth, images=items.images, rows=items.rows,
            classifier_names=[m.name for m in self.models], record=self._record,
            retract=self._retract,
        )
        self.probs: np.ndarray | None = None
        self.policy: Any = None

    # ------------------------------------------------------------------ helpers
    @contextmanager
    def _step(self, name: str):  # type: ignore[no-untyped-def]
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - t0
            self.store.set_state("seconds", self.seconds)

    def _load_journal(self) -> None:
        contents = self.journal.read()
        if contents.partial:
            self.log(f"warning: {contents.partial}")
        unknown = sorted(set(contents.answers) - set(self.items.ids))
        if unknown:
            raise ConfigError(f"{self.journal.path}: answers for {len(unknown)} items that are "
                              f"not items of this run (first: {unknown[0]!r}); the journal "
                              "belongs to another run or the items changed")
        self.answers = dict(contents.answers)

    def _record(self, item: str, label: int) -> None:
        """Journal one answer at once (used by annotators that ask a person item by item)."""
        self.journal.append([(item, label)], source=getattr(self.annotator, "journal_source",
                                                            "prompt"))
        self.answers[item] = label

    def _retract(self, item: str) -> None:
        """Take back an answer of the batch being asked (before the run has used it)."""
        self.journal.retract(item, source=getattr(self.annotator, "journal_source", "prompt"))
        self.answers.pop(item, None)

    def _ask(self, index: np.ndarray, source: str) -> list[int]:
        """Answers for the items ``index``; returns the indices still pending."""
        ids = [self.items.ids[i] for i in index]
        missing = [i for i, item in zip(index, ids, strict=True) if item not in self.answers]
        if not missing:
            return []
        with self._step("annotate"):
            suggestions = None if self.probs is None else self.probs[:, missing].argmax(2).T
            got = self.annotator.annotate([self.items.ids[i] for i in missing], suggestions)
            if len(got) != len(missing):
                raise RunError(f"annotator returned {len(got)} answers for {len(missing)} items")
            answered: list[tuple[str, int]] = []
            pending = []
            for i, label in zip(missing, got, strict=True):
                if label is None:
                    pending.append(i)
                    continue
                if isinstance(label, bool) or not isinstance(label, int | np.integer) or not (
                    0 <= int(label) < len(self.items.classes)
                ):
                    raise RunError(f"annotator answered {label!r} for item {self.items.ids[i]}, "
                                   f"which is not a class index 0..{len(self.items.classes) - 1}")
                answered.append((self.items.ids[i], int(label)))
            # journal first (fsync): no answer is ever lost; skip those the annotator journaled
            fresh = [(k, v) for k, v in answered if self.answers.get(k) != v]
            self.journal.append(fresh, source=source)
            self.answers.update(dict(answered))
            with self.store.transaction():
                for item, label in answered:
                    if not self.store.has("decision", item):
                        self.store.add("decision", item, {
                            "label": label, "class": self.items.classes[label],
                            "source": source, "auto": False})
        return pending

    def _sync_decisions(self) -> None:
        """Journaled answers whose decision record a crash kept from the store."""
        with self.store.transaction():
            for item, label in self.answers.items():
                if not self.store.has("decision", item):
                    self.store.add("decision", item, {
                        "label": label, "class": self.items.classes[label],
                        "source": "journal", "auto": False})

    def _labels(self, index: np.ndarray) -> np.ndarray:
        return np.array([self.answers[self.items.ids[i]] for i in index], dtype=np.int64)

    # ------------------------------------------------------------------ steps
    def _split(self) -> Split:
        saved = self.store.get_state("split")
        if saved is not None:
            return Split.from_dict(saved)
        with self._step("split"):
            rep = None
            if self.split_cfg.representation == "classifier":
                rep = next((r for m in self.models if (r := m.represent()) is not None), None)
            if rep is None:
                rep = self.items.pixels()
            c = self.split_cfg
            split = split_items(rep, c.fraction, c.method, c.n_clusters, c.eps, c.min_samples,
                                c.max_optimisation, self.seed)
        self.store.set_state("split", split.as_dict())
        self.log(f"split: {len(split.finetune)} fine-tuning, {len(split.optimisation)} "
                 f"optimisation, {len(split.rest)} to label "
                 f"({len(np.unique(split.clusters))} clusters, {c.method})")
        return split

    def _fit_and_predict(self, split: Split) -> np.ndarray:
        return self._fitted_probs("probs.npy", split.finetune if self.finetune else None)

    def _fitted_probs(self, name: str, index: np.ndarray | None,
                      fresh: bool = False) -> np.ndarray:
        """Every item's probabilities after fitting each model on the items ``index`` (None:
        no fit; ``fresh``: from the model's start), stored as the artefact ``name`` so that a
        resumed run reads them back instead of fitting again."""
        path = self.store.artefact(name)
        if path.exists():
            return self._load_probs(path)
        with self._step("finetune"):
            if index is not None:
                labels = self._labels(index)
                for m in self.models:
                    if m.can_fit():
                        (m.refit if fresh else m.fit)(index, labels)
            n, c = len(self.items), len(self.items.classes)
            probs = np.stack([check_proba(m.proba(), m.name, n, c) for m in self.models])
        buf = io.BytesIO()
        np.save(buf, probs)
        write_atomic(path, buf.getvalue())
        return probs

    def _load_probs(self, path: Path) -> np.ndarray:
        """Stored probabilities of a resumed run, refused when damaged or of the wrong shape."""
        shape = (len(self.models), len(self.items), len(self.items.classes))
        try:
            probs = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{path} is damaged ({exc}); start a new run") from None
        if probs.shape != shape or not np.isfinite(probs).all():
            raise ConfigError(f"{path} is damaged: shape {probs.shape}, expected {shape} with "
                              "finite values; start a new run")
        return probs

    def _fit_policy(self, opt: np.ndarray) -> Any:
        assert self.probs is not None
        with self._step("optimise"):
            try:
                policy = self.labeller.fit(self.probs[:, opt], self._labels(opt), self.alpha)
            except ValueError as exc:
                raise RunError(f"labeller: {exc}") from None
        self.policy = policy
        return policy

    def _pick(self, queue: np.ndarray, r: int) -> np.ndarray:
        """OPAL-AL: the queued items a round asks about (``active.pick``)."""
        assert self.active is not None and self.probs is not None
        _, score = agreed_scores(self.probs, "all")
        prio = uncertainty(self.probs, score, self.active.pick)
        rng = np.random.default_rng([self.seed, r])
        return choose(queue, prio, self.active.size(len(self.items)), self.active.pick, rng)

    # ------------------------------------------------------------------ run
    def _start(self) -> tuple[Split, dict[str, Any] | None]:
        """Steps 1–2 (resumable): the split, its answers and the fine-tuned probabilities;
        returns the split and, while answers are missing, the ``waiting`` summary."""
        if isinstance(self.annotator, Attachable):
            self.annotator.attach(self.context)
        self._load_journal()
        self._sync_decisions()
        split = self._split()
        pending = self._ask(np.concatenate([split.finetune, split.optimisation]), "initial")
        if pending:
            return split, self._waiting(pending, "the fine-tuning and optimisation sets")
        self.probs = self._fit_and_predict(split)
        self.context.probs = self.probs
        return split, None

    def run(self) -> dict[str, Any]:
        """Run (or continue) the job; returns the summary (``status`` complete or waiting)."""
        split, waiting = self._start()
        if waiting is not None:
            return waiting
        assert self.probs is not None
        picks: list[list[int]] = self.store.get_state("active_picks", [])
        opt, rest = split.optimisation, split.rest
        rounds = 0
        while True:
            r = rounds
            used = np.array(sorted(sum(picks[:r], [])), dtype=np.int64)
            opt_r = np.union1d(opt, used)
            rest_r = np.setdiff1d(rest, used)
            final = self.store.get_state("final") if self.active is None else None
            if final is not None:
                auto_idx = np.asarray(final["auto"], dtype=np.int64)
                auto_lab = np.asarray(final["labels"], dtype=np.int64)
                solver = final["solver"]
            else:
                policy = self._fit_policy(opt_r)
                with self._step("decide"):
                    auto, lab = policy.decide(self.probs[:, rest_r])
                    auto = np.asarray(auto, dtype=bool)
                auto_idx, auto_lab = rest_r[auto], np.asarray(lab)[auto].astype(np.int64)
                solver = _solver_info(policy)
                if not self.store.has("round", str(r)):
                    self.store.add("round", str(r), {
                        "optimisation": len(opt_r), "rest": len(rest_r),
                        "auto": int(auto.sum()), "solver": solver})
            queue = np.setdiff1d(rest_r, auto_idx)
            rounds += 1
            active_round = (self.active is not None
                            and len(queue) > self.active.size(len(self.items))
                            and r < self.active.max_rounds)
            if active_round:
                assert self.active is not None
                if r >= len(picks):
                    picks.append(self._pick(queue, r).tolist())
                    self.store.set_state("active_picks", picks)
                self.log(f"round {r}: {len(auto_idx)} would be auto-labelled, asking "
                         f"{len(picks[r])} of {len(queue)} queued")
                pending = self._ask(np.asarray(picks[r], dtype=np.int64), f"active-{r}")
                if pending:
                    return self._waiting(pending, f"OPAL-AL round {r}")
                continue
            if final is None:
                self._record_auto(auto_idx, auto_lab, solver, r)
            self.log(f"policy: {len(auto_idx)} of {len(rest_r)} auto-labelled, "
                     f"{len(queue)} queued ({solver['status']}, {solver['seconds']:.2f} s)")
            pending = self._ask(queue, "manual")
            if pending:
                return self._waiting(pending, "the queue")
            return self._finish(split, auto_idx, auto_lab, solver, rounds)

    def _record_auto(self, auto_idx: np.ndarray, auto_lab: np.ndarray,
                     solver: dict[str, Any], r: int) -> None:
        """The final auto-labels: the ``final`` state (for resume) and one decision each."""
        self.store.set_state("final", {"auto": auto_idx.tolist(), "labels": auto_lab.tolist(),
                                       "solver": solver})
        with self.store.transaction():
            for i, lab in zip(auto_idx, auto_lab, strict=True):
                item = self.items.ids[i]
                if not self.store.has("decision", item):
                    self.store.add("decision", item, {
                        "label": int(lab), "class": self.items.classes[lab],
                        "source": "auto", "auto": True, "round": r})

    def _waiting(self, pending: list[int], what: str) -> dict[str, Any]:
        exported = ([str(p) for p in self.annotator.last_export]
                    if isinstance(self.annotator, Exporting) else [])
        self.store.set_state("status", "waiting")
        return {"status": "waiting", "pending": len(pending), "waiting_for": what,
                "answered": len(self.answers), "exported": exported,
                "run_dir": str(self.store.path), "seconds": dict(self.seconds)}

    def _finish(self, split: Split, auto_idx: np.ndarray, auto_lab: np.ndarray,
                solver: dict[str, Any], rounds: int,
                extra: dict[str, Any] | None = None) -> dict[str, Any]:
        n = len(self.items)
        final = np.full(n, -1, dtype=np.int64)
        final[auto_idx] = auto_lab
        manual = np.array([i for i, item in enumerate(self.items.ids) if item in self.answers],
                          dtype=np.int64)
        manual_mask = np.zeros(n, dtype=bool)
        manual_mask[manual] = True
        final[manual] = self._labels(manual)
        auto_mask = np.zeros(n, dtype=bool)
        auto_mask[auto_idx] = True
        auto_mask &= ~manual_mask
        if (final < 0).any():
            raise RunError(f"{int((final < 0).sum())} items ended with no label (internal error)")
        rest_mask = np.zeros(n, dtype=bool)
        rest_mask[split.rest] = True
        summary: dict[str, Any] = {
            "status": "complete",
            "n_items": n,
            "target_accuracy": self.alpha,
            "manual_effort": float(manual_mask.mean()),
            "auto_labelled": int(auto_mask.sum()),
            "n_manual": int(manual_mask.sum()),
            "n_finetune": len(split.finetune),
            "n_optimisation": len(split.optimisation),
            "n_queue": int((manual_mask & rest_mask).sum()),
            "rounds": rounds,
            "solver": solver,
            "seconds": {k: round(v, 3) for k, v in self.seconds.items()},
            "classifiers": [m.name for m in self.models],
            "run_dir": str(self.store.path),
            "certificate": None,
            **(extra or {}),
        }
        truth = self.items.truth
        if truth is not None:
            correct = final == truth
            summary["accuracy"] = float(correct.mean())
            summary["rest_accuracy"] = float(correct[rest_mask].mean())
            summary["auto_accuracy"] = (float(correct[auto_mask].mean()) if auto_mask.any()
                                        else None)
            # the promise: all final labels (a person's count as correct) reach α
            summary["target_met"] = bool(summary["accuracy"] >= self.alpha)
            summary["classifier_accuracy"] = {
                m.name: float((self.probs[k, rest_mask].argmax(1) == truth[rest_mask]).mean())
                for k, m in enumerate(self.models)} if self.probs is not None else {}
            # the auto-labels against the truth, as (true class, auto-label, count) cells
            pairs, counts = np.unique(np.stack([truth[auto_mask], final[auto_mask]], 1),
                                      axis=0, return_counts=True)
            summary["auto_confusion"] = [[self.items.classes[t], self.items.classes[a], int(c)]
                                         for (t, a), c in zip(pairs, counts, strict=True)]
        else:
            summary.update(accuracy=None, rest_accuracy=None, auto_accuracy=None,
                           target_met=None)
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(["item", "label", "class", "source"])
        writer.writerows([item, int(final[i]), self.items.classes[final[i]],
                          "manual" if manual_mask[i] else "auto"]
                         for i, item in enumerate(self.items.ids))
        write_atomic(self.store.artefact("labels.csv"), buf.getvalue())
        summary["labels_file"] = str(self.store.artefact("labels.csv"))
        self.store.set_state("status", "complete")
        self.store.finish(summary)
        return summary


def _solver_info(policy: Any) -> dict[str, Any]:
    """The solver report of a policy (:class:`~fxcore.contracts.LabelPolicy`'s members)."""
    if not isinstance(policy, LabelPolicy):
        return {"status": "unknown", "gap": None, "seconds": 0.0,
                "message": f"{type(policy).__name__} does not report its solver (LabelPolicy)"}
    return {
        "status": str(policy.status),
        "gap": None if policy.gap is None else float(policy.gap),
        "seconds": float(policy.seconds),
        "message": str(policy.message),
    }
