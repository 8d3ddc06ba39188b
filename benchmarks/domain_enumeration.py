"""Speed of subdomain enumeration (kernel): 10^5 subdomains should take well under a second.

    python benchmarks/domain_enumeration.py

Prints seconds for the numpy enumeration against a plain itertools.product loop that checks each
combination against the invalid rules (the obvious implementation), measured in this process.
"""

from __future__ import annotations

import itertools
import time

from fxcore.domain import SubdomainSpace
from fxcore.schemas import EvaluationDomain


def domain(n_attr: int, n_val: int) -> EvaluationDomain:
    attrs = {f"a{i}": [f"v{j}" for j in range(n_val)] for i in range(n_attr)}
    invalid = [{"a0": "v0", "a1": ["v1", "v2"]}, {"a2": "v3"}]
    return EvaluationDomain(attributes=attrs, invalid=invalid, prompt_template="{a0}",
                            true_class="x")


def naive(d: EvaluationDomain) -> int:
    names = d.attribute_names
    count = 0
    for combo in itertools.product(*(a.values for a in d.attributes)):
        values = dict(zip(names, combo, strict=True))
        bad = any(all(values[k] in ([v] if isinstance(v, str) else v) for k, v in rule.items())
                  for rule in d.invalid)
        count += not bad
    return count


def main() -> None:
    for n_attr, n_val in [(5, 10), (6, 10)]:
        d = domain(n_attr, n_val)
        t0 = time.perf_counter()
        space = SubdomainSpace(d)
        t_fast = time.perf_counter() - t0
        t0 = time.perf_counter()
        n_naive = naive(d)
        t_naive = time.perf_counter() - t0
        assert n_naive == len(space)
        t0 = time.perf_counter()
        _ = space.ids
        t_ids = time.perf_counter() - t0
        print(f"{n_val}^{n_attr} combinations -> {len(space):>7} valid: numpy {t_fast:.4f} s, "
              f"naive loop {t_naive:.3f} s (x{t_naive / t_fast:.0f}); all stable ids {t_ids:.2f} s")


if __name__ == "__main__":
    main()
