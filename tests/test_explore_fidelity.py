"""explore with ``[fidelity]``: staged evaluation on real digits, exact resume mid-subdomain,
unchanged configs and runs without it."""

from __future__ import annotations

from typing import Any

import explore_digits
import numpy as np
import pytest
from test_explore import CrashAfter, _run, comparable, make_config

from fxcore import plugins
from fxcore.errors import ConfigError, RunError
from fxcore.explore import build_components
from fxcore.fidelity import FidelityObservations
from fxcore.schemas import ExploreConfig
from fxcore.store import RunStore, config_hash

FIDELITY = {"stages": [4, 8, 24], "error": 0.1}


@pytest.fixture(scope="module")
def registry() -> plugins.Registry:
    return plugins.Registry.load(modules={"digits": explore_digits})


def staged(registry: plugins.Registry, **over: Any) -> ExploreConfig:
    base: dict[str, Any] = dict(budget=30, batch_size=2, images_per_subdomain=24,
                                fidelity=FIDELITY)
    return make_config(registry, **(base | over))


def test_staged_run_stops_clear_passes_early_and_takes_candidates_to_full(registry, tmp_path):
    config = staged(registry)
    evs = _run(config, registry, tmp_path / "run")
    kept = [e.n_kept for e in evs if e.status == "ok"]
    assert min(kept) < 24 and max(kept) == 24       # some stopped early, some went to full
    assert set(kept) <= {4, 8, 24}
    for e in evs:
        if e.status == "ok":
            assert e.accuracy == pytest.approx(e.n_correct / e.n_kept)
    store = RunStore(tmp_path / "run")
    stages = store.records("stage")
    store.close()
    # one stage record per stage done; a subdomain's kept images are the sum over its stages
    per: dict[str, int] = {}
    for rec in stages:
        per[rec["subdomain_id"]] = per.get(rec["subdomain_id"], 0) + rec["n_kept"]
    assert {e.subdomain_id: e.n_kept for e in evs} == per


def test_a_known_threshold_stops_only_what_cannot_fail(registry, tmp_path):
    config = staged(registry, fidelity=FIDELITY | {"threshold": 0.3})
    for e in _run(config, registry, tmp_path / "run"):
        if e.status == "ok" and e.n_kept < 24:
            assert e.accuracy is not None and e.accuracy > 0.3


def test_resume_mid_subdomain_equals_the_uninterrupted_run(registry, tmp_path):
    config = staged(registry)
    full = _run(config, registry, tmp_path / "full")
    parts = build_components(config, registry)
    for calls in (3, 11):
        cut = tmp_path / f"cut{calls}"
        with pytest.raises(RunError, match="simulated crash"):
            _run(config, registry, cut, generator=CrashAfter(parts.generator, calls))
        store = RunStore(cut)
        done = {r["subdomain_id"] for r in store.records("evaluation")}
        partial = {r["subdomain_id"] for r in store.records("stage")} - done
        store.close()
        assert len(done) < len(full)
        if calls == 11:
            assert partial          # the crash came between two stages of a subdomain
        resumed = _run(config, registry, cut, resume=True)
        assert comparable(resumed) == comparable(full)


def test_selectors_see_the_image_count_of_each_observation(registry, tmp_path):
    seen: list[Any] = []
    config = staged(registry, budget=12)
    parts = build_components(config, registry)
    inner = parts.selector

    class Spy:
        def setup(self, space, seed):  # type: ignore[no-untyped-def]
            inner.setup(space, seed)

        def propose(self, observed, candidates, k):  # type: ignore[no-untyped-def]
            seen.append(observed)
            return inner.propose(observed, candidates, k)

    from fxcore.explore import run_explore

    store = RunStore.open(tmp_path / "run", "explore", config)
    try:
        evs = run_explore(config, parts.generator, parts.classifier, parts.filter, Spy(), store,
                          show_progress=False).evaluations
    finally:
        store.close()
    last = seen[-1]
    assert isinstance(last, FidelityObservations)
    ok = {e.index: e.n_kept for e in evs if e.accuracy is not None}
    assert dict(zip(last.rows.tolist(), last.n_images.tolist(), strict=False)) == \
        {r: ok[r] for r in last.rows.tolist()}
    assert np.all(last.n_images > 0)


def test_without_fidelity_the_config_hash_and_records_are_unchanged(registry, tmp_path):
    plain = make_config(registry)
    assert "fidelity" not in plain.model_dump()
    # the hash of this config before [fidelity] existed (its dump has no such key)
    assert config_hash(plain) == config_hash(plain.model_copy())
    _run(plain, registry, tmp_path / "run")
    store = RunStore(tmp_path / "run")
    assert store.count("stage") == 0
    store.close()
    with_it = staged(registry)
    assert with_it.model_dump()["fidelity"]["stages"] == [4, 8, 24]


@pytest.mark.parametrize(("fidelity", "message"), [
    ({"stages": [4, 8, 20]}, "must equal images_per_subdomain"),
    ({"stages": [8, 4, 24]}, "increasing"),
    ({"stages": [24]}, "at least two"),
    ({"stages": [4, 24], "error": 0}, "error"),
])
def test_bad_fidelity_config_names_the_field(registry, fidelity, message):
    with pytest.raises(ConfigError, match=message):
        staged(registry, fidelity=fidelity)
