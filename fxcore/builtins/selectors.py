"""Built-in selectors: ``random`` and ``exhaustive``."""

from __future__ import annotations

from typing import Any

import numpy as np

from fxcore.contracts import Observations


class RandomSelector:
    """Uniformly random subdomains without replacement (the paper's random baseline)."""

    def setup(self, space: Any, seed: int) -> None:
        self.rng = np.random.default_rng(seed)

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        k = min(k, len(candidates))
        return self.rng.choice(candidates, size=k, replace=False)


class ExhaustiveSelector:
    """Every subdomain once, in the domain's enumeration order."""

    def setup(self, space: Any, seed: int) -> None:
        pass

    def propose(self, observed: Observations, candidates: np.ndarray, k: int) -> np.ndarray:
        return np.sort(candidates)[:k]
