"""The compiled matrix-form attention gradient against torch autograd, on the same batch.

Autograd side: the forward run op by op (verify/graph_forward.py) and ``torch.autograd.grad``
for Q, K and V. Compiled side: verify/compile.py's function (forward named tensors, then the
adjoints). Same inputs, float64, CPU; the ratio is compiled time / autograd time (below 1 is
faster). Numbers are printed, never asserted.

    python benchmarks/compiled_vs_autograd.py [--sizes 32 128] [--batch 64] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch

from graphs.models import model
from verify.compile import compile_model
from verify.graph_forward import loss


def _median_seconds(run, repeats: int, device: str = "cpu") -> float:
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    run()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(
    sizes: list[int], batch: int = 64, repeats: int = 5, device: str = "cpu"
) -> dict:
    """Time both on the same batches, print a line per size, and return the figures per n."""
    figures: dict = {}
    compiled = compile_model("attention")
    m = model("attention")
    print(
        f"attention, batch {batch}, float64, "
        f"{torch.cuda.get_device_name() if device == 'cuda' else f'CPU, {torch.get_num_threads()} threads'}"
    )
    for n in sizes:
        generator = torch.Generator().manual_seed(n)
        Q, K, V, G = (
            torch.randn(batch, n, n, generator=generator, dtype=torch.float64).to(
                device
            )
            for _ in range(4)
        )

        def autograd(Q=Q, K=K, V=V, G=G) -> tuple:
            leaves = [x.clone().requires_grad_() for x in (Q, K, V)]
            total = loss(m, dict(zip("QKV", leaves), G=G)).sum()
            return torch.autograd.grad(total, leaves)

        def formula(Q=Q, K=K, V=V, G=G) -> dict:
            return compiled(Q=Q, K=K, V=V, G=G)

        reference, got = autograd(), formula()
        error = max(float((got[t] - r).abs().max()) for t, r in zip("QKV", reference))
        t_auto = _median_seconds(autograd, repeats, device)
        t_comp = _median_seconds(formula, repeats, device)
        print(
            f"  n = d_k = {n:4d}: autograd {t_auto * 1000:9.2f} ms, compiled {t_comp * 1000:9.2f} ms, "
            f"ratio {t_comp / t_auto:.2f}, max abs difference {error:.1e}"
        )
        figures[n] = {
            "autograd_s": t_auto,
            "formula_s": t_comp,
            "ratio": t_comp / t_auto,
            "max_difference": error,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", type=int, nargs="+", default=[32, 128], help="n = d_k"
    )
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device")
    measure(args.sizes, args.batch, args.repeats, args.device)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}"
    )


if __name__ == "__main__":
    main()
