"""Registration through the kernel's hook, the component contracts and the params model."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from fxcore_highs import OpalMilpLabeller, OpalMilpParams

contracts = pytest.importorskip("fxcore.contracts")


def test_hook_registers_opal_milp() -> None:
    from fxcore.plugins import Registry

    import fxcore_highs

    reg = Registry.load(entry_points=[], modules={"highs": fxcore_highs})
    assert "highs/opal-milp" in reg.names("labeller")
    labeller = reg.create("labeller", {"name": "opal-milp", "params": {"time_limit": 5}})
    assert isinstance(labeller, contracts.Labeller)
    assert labeller.params.time_limit == 5


def test_unknown_or_bad_params_are_rejected() -> None:
    with pytest.raises(ValidationError, match="extra"):
        OpalMilpParams.model_validate({"timelimit": 5})
    with pytest.raises(ValidationError, match="guarantee"):
        OpalMilpParams.model_validate({"guarantee": 1.5})
    with pytest.raises(ValidationError, match="formulation"):
        OpalMilpLabeller(formulation="exact")


def test_fit_returns_a_label_policy() -> None:
    rng = np.random.default_rng(0)
    truth = rng.integers(4, size=200)
    logits = rng.normal(size=(3, 200, 4)) + 3.0 * np.eye(4)[truth][None]
    probs = np.exp(logits) / np.exp(logits).sum(axis=2, keepdims=True)
    policy = OpalMilpLabeller(condition="majority").fit(probs, truth, 0.95)
    assert isinstance(policy, contracts.LabelPolicy)
    assert policy.status == "optimal" and policy.gap == 0.0 and policy.seconds > 0
    auto, labels = policy.decide(probs)
    assert auto.dtype == bool and labels.dtype.kind == "i" and auto.shape == labels.shape == (200,)
    assert (labels[auto] != truth[auto]).sum() <= 10  # (1 − 0.95) · 200
