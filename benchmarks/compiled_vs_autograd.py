"""The compiled matrix-form attention gradient against torch autograd, on the same batch.

Autograd side: the forward run op by op (verify/graph_forward.py) and ``torch.autograd.grad``
for Q, K and V. Compiled side: verify/compile.py's function (forward named tensors, then the
adjoints). Same inputs, float64, CPU; the ratio is compiled time / autograd time (below 1 is
faster). Numbers are printed, never asserted.

    python benchmarks/compiled_vs_autograd.py [--sizes 32 128] [--batch 64] [--repeats 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from graphs.models import model  # noqa: E402
from verify.compile import compile_model  # noqa: E402
from verify.graph_forward import loss  # noqa: E402


def _median_seconds(run, repeats: int) -> float:  # noqa: ANN001
    run()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128], help="n = d_k")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    compiled = compile_model("attention")
    m = model("attention")
    print(f"attention, batch {args.batch}, float64, CPU, {torch.get_num_threads()} threads")
    for n in args.sizes:
        generator = torch.Generator().manual_seed(n)
        Q, K, V, G = (torch.randn(args.batch, n, n, generator=generator, dtype=torch.float64) for _ in range(4))

        def autograd() -> tuple:
            leaves = [x.clone().requires_grad_() for x in (Q, K, V)]
            total = loss(m, dict(zip("QKV", leaves), G=G)).sum()
            return torch.autograd.grad(total, leaves)

        def formula() -> dict:
            return compiled(Q=Q, K=K, V=V, G=G)

        reference, got = autograd(), formula()
        error = max(float((got[t] - r).abs().max()) for t, r in zip("QKV", reference))
        t_auto = _median_seconds(autograd, args.repeats)
        t_comp = _median_seconds(formula, args.repeats)
        print(f"  n = d_k = {n:4d}: autograd {t_auto * 1000:9.2f} ms, compiled {t_comp * 1000:9.2f} ms, "
              f"ratio {t_comp / t_auto:.2f}, max abs difference {error:.1e}")
    print(f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}")


if __name__ == "__main__":
    main()
