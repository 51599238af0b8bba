"""The zero test's two routes on the same claims: SymPy expressions against sparse polynomials.

For each case, one claim at one size: the derived side (gradients left unevaluated by
``derive.spec.grad``) and the claimed closed form. The expression route is what every proof
used before ``derive/grouped.py``: ``sympy.diff`` builds each entry of the gradient, and
``expand``/``together`` reduce derived minus claimed (``derive.zero.expression_residual``; it
is still the fallback). The polynomial route takes the derivatives and the differences on
sparse polynomials in one field per matrix (``derive.grouped.equal_entries``). Both must prove
every entry; the ratio is expression time over polynomial time, measured in the same run.

    python benchmarks/zero_test.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from derive.catalog import topic
from derive.grouped import equal_entries
from derive.spec import EnvCache
from derive.zero import expression_residual

CASES = (
    ("attention", "grad_Q", {"n": 3, "d_k": 3}),
    ("attention", "causal_grad_K", {"n": 3, "d_k": 3}),
    ("multihead_attention", "grad_X", {"n": 2, "d_model": 2, "heads": 2, "d_k": 2}),
    ("layernorm", "grad_X", None),
    ("bp", "update_w_hidden", {"I": 3, "H": 3, "O": 3, "H2": 1}),
    ("conv", "grad_X", {"c_in": 2, "c_out": 2, "oh": 3, "ow": 3, "kh": 3, "kw": 3}),
)
QUICK = CASES[:1] + CASES[4:5]


def measure(name: str, key: str, sizes: dict | None) -> dict:
    t = topic(name)
    claim = next(c for c in t.claims if c.key == key)
    grid = claim.sizes or t.grid
    sizes = sizes or dict(max(grid, key=lambda s: sum(s.values())))
    env = EnvCache(t.build)(sizes)
    derived, claimed = list(claim.derived(env)), list(claim.claimed(env))
    start = time.perf_counter()
    polynomial = equal_entries(derived, claimed)
    polynomial_s = time.perf_counter() - start
    start = time.perf_counter()
    expression = [expression_residual(d - c) == 0 for d, c in zip(derived, claimed)]
    expression_s = time.perf_counter() - start
    return {
        "case": f"{name} {key}",
        "sizes": sizes,
        "entries": len(derived),
        "expression_s": expression_s,
        "polynomial_s": polynomial_s,
        "ratio": expression_s / polynomial_s,
        "both_prove_every_entry": all(polynomial) and all(expression),
    }


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two small cases")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    rows = []
    print(f"{'case':<34} {'entries':>7} {'expression':>11} {'polynomial':>11} {'ratio':>7}  both prove")
    for case in QUICK if args.quick else CASES:
        row = measure(*case)
        rows.append(row)
        print(f"{row['case']:<34} {row['entries']:>7} {row['expression_s']:>10.2f}s {row['polynomial_s']:>10.3f}s "
              f"{row['ratio']:>6.0f}x  {row['both_prove_every_entry']}", flush=True)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    return rows


if __name__ == "__main__":
    main()
