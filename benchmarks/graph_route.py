"""The graph route against entrywise ``sympy.diff``: time to obtain attention's gradients.

Baseline (measured in the same run): differentiating ``L = sum(G * O)`` of attention entry by
entry with SymPy with respect to every entry of Q, at n = d_k = 4 and 6 (PITFALLS.md: grows like
n^5.4). Graph route: build the model and run reverse mode at *symbolic* sizes, for every input
of attention, multi-head attention and a Transformer encoder block. Also: proving the whole
rule table entrywise, and each model's entrywise check. Numbers are printed, never asserted.

    python benchmarks/graph_route.py [--sizes 4 6] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sympy

from derive.atoms import matrix
from derive.concrete import hadamard, softmax_rows, total
from graphs.backprop import backprop
from graphs.check import check_all
from graphs.models import MODELS, model
from graphs.ops import RULES
from graphs.prove import prove_rule


def entrywise_attention_dQ(n: int) -> float:
    """Seconds for SymPy to differentiate attention's L with respect to all of Q at n = d_k."""
    Q, K, V, G = (matrix(name, n, n) for name in "QKVG")
    start = time.perf_counter()
    A = softmax_rows(Q * K.T / sympy.sqrt(n))
    loss = total(hadamard(G, A * V))
    # sympy.diff itself (derive.spec.grad leaves derivatives unevaluated for the zero test).
    Q.applyfunc(lambda entry: sympy.diff(loss, entry))
    return time.perf_counter() - start


def graph_route(name: str, repeats: int = 5) -> float:
    """Median seconds to build the model at symbolic sizes and run reverse mode over it."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        backprop(model(name))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[4, 6],
        help="n = d_k for the entrywise baseline",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    baseline = {n: entrywise_attention_dQ(n) for n in args.sizes}
    route = {
        name: graph_route(name)
        for name in ("attention", "causal_attention", "multihead_attention", "encoder")
    }
    start = time.perf_counter()
    proofs = {name: prove_rule(rule).kind for name, rule in RULES.items()}
    rules_seconds = time.perf_counter() - start
    checks = {}
    for name, spec in MODELS.items():
        if not spec.exact:
            continue  # the encoder's whole-block check is numeric and takes minutes (tests mark it slow)
        begin = time.perf_counter()
        kinds = {check.kind for check in check_all(name)}
        checks[name] = {"seconds": time.perf_counter() - begin, "kinds": sorted(kinds)}

    print(
        "Attention gradients: entrywise sympy.diff (dL/dQ only) vs the graph route (every input, any size)"
    )
    for n, seconds in baseline.items():
        print(f"  entrywise  n = d_k = {n}: {seconds:8.3f} s")
    for name, seconds in route.items():
        ratios = ", ".join(
            f"{baseline[n] / seconds:,.0f}x faster than entrywise at n={n}"
            for n in baseline
        )
        print(
            f"  graph route {name:<20} {seconds * 1000:8.2f} ms  (symbolic sizes; {ratios})"
        )
    if len(baseline) >= 2:
        measured = list(baseline.items())
        (n1, t1), (n2, t2) = measured[0], measured[-1]
        exponent = (sympy.log(t2 / t1) / sympy.log(sympy.Rational(n2, n1))).evalf(3)
        print(
            f"  entrywise growth between n={n1} and n={n2}: n^{exponent}; the graph route does not depend on n"
        )
    proved = sum(kind == "proved" for kind in proofs.values())
    print(
        f"Rule table: {proved}/{len(proofs)} rules proven entrywise in {rules_seconds:.2f} s"
    )
    print("Model checks (entrywise, at each model's check sizes):")
    for name, row in checks.items():
        print(f"  {name:<20} {row['seconds']:7.2f} s  {', '.join(row['kinds'])}")
    print(
        f"python {platform.python_version()}, sympy {sympy.__version__}, {platform.machine()}"
    )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "entrywise_seconds": baseline,
                    "graph_route_seconds": route,
                    "rules_seconds": rules_seconds,
                    "rules": proofs,
                    "model_checks": checks,
                },
                indent=2,
            )
        )


if __name__ == "__main__":
    main()
