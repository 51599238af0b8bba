"""A model's compiled matrix-form gradient against torch autograd, on the same batch.

Autograd side: the forward run op by op (verify/graph_forward.py) and ``torch.autograd.grad``
for every input with a gradient. Compiled side: verify/compile.py's function (forward named
tensors, then the adjoints). Same inputs, float64; every size of the model is set to n; the
ratio is compiled time / autograd time (below 1 is faster). Times are medians (and minima, which
a busy machine disturbs less). Numbers are printed, never asserted.

    python benchmarks/compiled_vs_autograd.py [--model attention] [--sizes 32 128] [--batch 64] [--repeats 5] [--device cpu|cuda]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sympy as sp
import torch

from graphs.models import model
from verify.compile import compile_model
from verify.graph_forward import loss


def _seconds(run, repeats: int, device: str = "cpu") -> tuple[float, float]:
    """Median and minimum wall time of ``run`` over ``repeats`` calls, after one warm-up."""
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    run()  # warm-up
    times = []
    for _ in range(repeats):
        sync()
        start = time.perf_counter()
        run()
        sync()
        times.append(time.perf_counter() - start)
    return statistics.median(times), min(times)


def _inputs(m, inputs: tuple[str, ...], n: int, batch: int, generator, device: str) -> dict:
    """Random inputs of the model's shapes with every size set to ``n``; positive where the graph says."""
    shapes = {d["label"]: (d["shape"], d.get("domain")) for _, d in m.graph.nodes(data=True) if d["op"] == "input"}
    shapes[m.seed] = (m.graph.nodes[m.output]["shape"], "real")
    tensors = {}
    for name in inputs:
        shape, domain = shapes[name]
        dims = [int(sp.sympify(s).subs({x: n for x in sp.sympify(s).free_symbols})) for s in shape]
        x = torch.randn(batch, *dims, generator=generator, dtype=torch.float64)
        tensors[name] = (x.abs() + 0.1 if domain == "positive" else x).to(device)
    return tensors


def measure(
    sizes: list[int], batch: int = 64, repeats: int = 5, device: str = "cpu", name: str = "attention"
) -> dict:
    """Time both on the same batches, print a line per size, and return the figures per n."""
    figures: dict = {}
    compiled = compile_model(name)
    m = model(name)
    print(
        f"{name}, batch {batch}, float64, "
        f"{torch.cuda.get_device_name() if device == 'cuda' else f'CPU, {torch.get_num_threads()} threads'}"
    )
    for n in sizes:
        tensors = _inputs(m, compiled.inputs, n, batch, torch.Generator().manual_seed(n), device)

        def autograd(tensors=tensors) -> tuple:
            leaves = {k: v.clone().requires_grad_(k in compiled.targets) for k, v in tensors.items()}
            total = loss(m, leaves).sum()
            return torch.autograd.grad(total, [leaves[t] for t in compiled.targets])

        def formula(tensors=tensors) -> dict:
            return compiled(**tensors)

        reference, got = autograd(), formula()
        error = max(float((got[t] - r).abs().max()) for t, r in zip(compiled.targets, reference))
        t_auto, min_auto = _seconds(autograd, repeats, device)
        t_comp, min_comp = _seconds(formula, repeats, device)
        print(
            f"  n = {n:4d}: autograd {t_auto * 1000:9.2f} ms (min {min_auto * 1000:.2f}), "
            f"compiled {t_comp * 1000:9.2f} ms (min {min_comp * 1000:.2f}), "
            f"ratio {t_comp / t_auto:.2f}, max abs difference {error:.1e}"
        )
        figures[n] = {
            "autograd_s": t_auto,
            "formula_s": t_comp,
            "autograd_min_s": min_auto,
            "formula_min_s": min_comp,
            "ratio": t_comp / t_auto,
            "max_difference": error,
        }
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="attention", help="a model of graphs/models.py whose sizes may all be n")
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 128], help="every size of the model")
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    args = parser.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device")
    measure(args.sizes, args.batch, args.repeats, args.device, args.model)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, {platform.machine()}"
    )


if __name__ == "__main__":
    main()
