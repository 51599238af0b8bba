"""What a numeric check costs: the compiled formula against autograd, and our check against gradcheck.

Three timings in one run, same machine, float64, CPU:

1. the compiled matrix-form attention gradient (dQ, dK, dV) against autograd of the reference
   (``F.scaled_dot_product_attention``, forward + backward) on one batch (n = d_k = 128, batch 64);
   ratio compiled / autograd (below 1: the formula is faster);
2. our whole check of one attention problem at n = d_k = 128 (inputs drawn and validated, the
   reference's autograd, the compiled formula, the comparison, for dQ, dK and dV together),
   through ``verify.check`` with one example;
3. ``torch.autograd.gradcheck`` of the same scalar loss ``sum(G * O)`` with respect to Q only, in
   its default mode (a finite-difference Jacobian: two forwards per entry of Q) and in
   ``fast_mode``; ratio gradcheck / our check.

Numbers are printed, never asserted. ``--skip-default`` leaves out gradcheck's default mode (about
20 s here).

    python benchmarks/verify_vs_gradcheck.py [--n 128] [--batch 64] [--repeats 5] [--skip-default]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.nn.functional as F

from verify.check import check, matrix_candidate
from verify.compile import compile_model
from verify.targets import targets_for


def _median_seconds(run, repeats: int) -> float:
    run()  # warm-up (and compilation, cached after)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    n: int = 128, batch: int = 64, repeats: int = 5, skip_default: bool = False
) -> dict:
    """Run the three timings, print them, and return the figures."""
    figures: dict = {"n": n, "batch": batch}
    print(
        f"attention n = d_k = {n}, float64, CPU, {torch.get_num_threads()} threads, torch {torch.__version__}"
    )

    # 1. compiled formula vs autograd on one batch
    g = torch.Generator().manual_seed(0)
    Q, K, V, G = (
        torch.randn(batch, n, n, generator=g, dtype=torch.float64) for _ in range(4)
    )
    compiled = compile_model("attention")

    def autograd() -> tuple:
        leaves = [x.clone().requires_grad_() for x in (Q, K, V)]
        out = F.scaled_dot_product_attention(*leaves)
        return torch.autograd.grad((G * out).sum(), leaves)

    def formula() -> dict:
        return compiled(Q=Q, K=K, V=V, G=G)

    reference, got = autograd(), formula()
    agreement = max(float((got[k] - r).abs().max()) for k, r in zip("QKV", reference))
    t_auto = _median_seconds(autograd, repeats)
    t_formula = _median_seconds(formula, repeats)
    print(
        f"1. batch {batch}: autograd (SDPA forward + backward) {t_auto * 1e3:8.1f} ms, compiled formula "
        f"{t_formula * 1e3:8.1f} ms, ratio {t_formula / t_auto:.2f} (max difference {agreement:.1e})"
    )

    # 2. our whole check of one problem, dQ, dK and dV
    big = [
        dataclasses.replace(t, large={"n": n, "d_k": n})
        for t in targets_for(tuple(f"attention:d{x}" for x in "QKV"))
    ]

    def our_check() -> bool:
        return all(
            check(t, "matrix", examples=1, size="large", shrink=False).passed
            for t in big
        )

    for t in big:
        matrix_candidate(
            t
        )  # compile outside the timing, as every later check finds it compiled
    assert our_check(), "the check itself failed"
    t_check = _median_seconds(our_check, repeats)
    print(
        f"2. our check of one problem (dQ, dK, dV, inputs drawn and validated, compared): {t_check * 1e3:8.1f} ms"
    )

    # 3. gradcheck of the same scalar loss, with respect to Q
    q, k, v, gg = (x[:1].clone() for x in (Q, K, V, G))

    def scalar_loss(query: torch.Tensor) -> torch.Tensor:
        return (gg * F.scaled_dot_product_attention(query, k, v)).sum()

    q.requires_grad_()
    start = time.perf_counter()
    assert torch.autograd.gradcheck(scalar_loss, (q,), fast_mode=True)
    t_fast = time.perf_counter() - start
    figures.update(
        autograd_s=t_auto,
        formula_s=t_formula,
        formula_vs_autograd=t_formula / t_auto,
        check_s=t_check,
        gradcheck_fast_s=t_fast,
        gradcheck_fast_vs_check=t_fast / t_check,
    )
    print(
        f"3. gradcheck fast_mode, Q only: {t_fast * 1e3:8.1f} ms ({t_fast / t_check:.1f}x our check of all three)"
    )
    if skip_default:
        print("   gradcheck default mode: skipped (--skip-default)")
        return figures
    start = time.perf_counter()
    assert torch.autograd.gradcheck(scalar_loss, (q,))
    t_default = time.perf_counter() - start
    print(
        f"   gradcheck default mode, Q only: {t_default:8.1f} s ({t_default / t_check:.0f}x our check of all three)"
    )
    figures.update(
        gradcheck_default_s=t_default, gradcheck_default_vs_check=t_default / t_check
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=128, help="n = d_k (default 128)")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--skip-default",
        action="store_true",
        help="skip gradcheck's default mode (slow)",
    )
    args = parser.parse_args()
    measure(args.n, args.batch, args.repeats, args.skip_default)


if __name__ == "__main__":
    main()
