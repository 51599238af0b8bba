"""How far the matrix route scales: attention and a Transformer encoder block, verified at growing n.

One verification at size n: draw the inputs (seeded), run torch autograd through the model's
forward op by op (verify/graph_forward.py), run the compiled matrix-form gradient
(verify/compile.py), and compare every input's gradient entry by entry within the float64
tolerance of verify/check.py. n doubles until one verification takes longer than ``--budget``
seconds (10 by default) or ``--max-n`` is reached; the table gives each size's time, the formula's
time against autograd's, and the largest error against the allowed one.

With ``--device cuda`` (when a GPU is present) the same inputs are also run on the CPU at the
sizes where that stays cheap, and the CUDA formula is compared with the CPU autograd
(CPU vs CUDA agreement). Numbers are printed, never asserted.

    python benchmarks/scale.py [--device cpu|cuda] [--models attention encoder] [--budget 10]
                               [--max-n N] [--d-k 128] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sympy as sp
import torch

from graphs.graph import Model
from graphs.models import model as build_model
from verify.check import TOLERANCES, compare
from verify.compile import compile_model
from verify.graph_forward import loss

# the sizes other than n, per model, from --d-k: attention n x d_k; the encoder's two heads split d_model
SIZES: dict[str, Callable[[int, int], dict[str, int]]] = {
    "attention": lambda n, d_k: {"n": n, "d_k": d_k},
    "encoder": lambda n, d_k: {
        "n": n,
        "d_model": d_k,
        "d_k": d_k // 2,
        "d_ff": 4 * d_k,
    },
}


def _concrete(shape: tuple[sp.Expr, ...], sizes: dict[str, int]) -> tuple[int, ...]:
    return tuple(
        int(
            sp.sympify(s).xreplace(
                {x: sizes[x.name] for x in sp.sympify(s).free_symbols}
            )
        )
        for s in shape
    )


def draw_inputs(
    m: Model, names: tuple[str, ...], sizes: dict[str, int], device: str, seed: int
) -> dict[str, torch.Tensor]:
    """Seeded float64 inputs (batch 1) for a model's compiled gradient; weights scaled by 1/sqrt(fan-in).

    >>> m = build_model("attention")
    >>> {k: tuple(v.shape) for k, v in draw_inputs(m, ("Q", "K", "V", "G"), {"n": 3, "d_k": 2}, "cpu", 0).items()}
    {'Q': (1, 3, 2), 'K': (1, 3, 2), 'V': (1, 3, 2), 'G': (1, 3, 2)}
    """
    shapes = {
        d["label"]: d["shape"]
        for _, d in m.graph.nodes(data=True)
        if d["op"] == "input"
    }
    shapes.setdefault(m.seed, m.graph.nodes[m.output]["shape"])
    generator = torch.Generator().manual_seed(seed)
    out = {}
    for name in names:
        rows, cols = _concrete(shapes[name], sizes)
        x = torch.randn(1, rows, cols, generator=generator, dtype=torch.float64)
        out[name] = (x / rows**0.5 if name.startswith("W") else x).to(device)
    return out


def _sync(device: str) -> None:
    if device == "cuda":
        torch.cuda.synchronize()


def _timed(run: Callable[[], Any], device: str) -> tuple[Any, float]:
    _sync(device)
    start = time.perf_counter()
    value = run()
    _sync(device)
    return value, time.perf_counter() - start


def autograd_gradients(
    m: Model, tensors: dict[str, torch.Tensor], targets: tuple[str, ...]
) -> dict[str, torch.Tensor]:
    leaves = {
        k: (v.clone().requires_grad_() if k in targets else v)
        for k, v in tensors.items()
    }
    grads = torch.autograd.grad(loss(m, leaves).sum(), [leaves[t] for t in targets])
    return dict(zip(targets, grads))


def worst(
    got: dict[str, torch.Tensor], expected: dict[str, torch.Tensor]
) -> tuple[bool, float, float]:
    """(passed, largest error, the allowed error there) over every gradient, float64 tolerance."""
    passed, error, allowed = True, 0.0, 0.0
    for k, e in expected.items():
        c = compare(got[k].to(e.device), e, TOLERANCES[torch.float64])
        passed &= c.passed
        if (
            c.worst.get("formula") is not None
            and abs(c.worst["formula"] - c.worst["autograd"]) >= error
        ):
            error, allowed = (
                abs(c.worst["formula"] - c.worst["autograd"]),
                c.worst["allowed"],
            )
    return passed, error, allowed


def verify_at(name: str, sizes: dict[str, int], device: str, cpu_check: bool) -> dict:
    """One seeded verification of a model's compiled gradients at concrete sizes."""
    m, compiled = build_model(name), compile_model(name)
    tensors = draw_inputs(m, compiled.inputs, sizes, device, seed=sum(sizes.values()))
    start = time.perf_counter()
    expected, t_auto = _timed(
        lambda: autograd_gradients(m, tensors, compiled.targets), device
    )
    got, t_formula = _timed(lambda: compiled(**tensors), device)
    passed, error, allowed = worst(got, expected)
    row = {
        "model": name,
        "device": device,
        **sizes,
        "seconds": time.perf_counter() - start,
        "autograd_s": t_auto,
        "formula_s": t_formula,
        "ratio": t_formula / t_auto,
        "passed": passed,
        "max_error": error,
        "allowed": allowed,
    }
    if cpu_check:
        cpu = autograd_gradients(
            m, {k: v.cpu() for k, v in tensors.items()}, compiled.targets
        )
        row["cpu_agrees"], row["cpu_max_error"], _ = worst(
            {k: v.cpu() for k, v in got.items()}, cpu
        )
    return row


def scale(
    name: str,
    device: str,
    d_k: int,
    budget: float,
    max_n: int,
    start_n: int = 64,
    cpu_up_to: int = 2048,
) -> list[dict]:
    """Double n from ``start_n`` until a verification passes the budget or ``max_n``."""
    verify_at(
        name, SIZES[name](8, d_k), device, False
    )  # warm-up: compile, first kernels
    rows, n = [], start_n
    while n <= max_n:
        row = verify_at(
            name,
            SIZES[name](n, d_k),
            device,
            cpu_check=device != "cpu" and n <= cpu_up_to,
        )
        rows.append(row)
        agree = (
            f", CPU agrees to {row['cpu_max_error']:.1e}" if "cpu_agrees" in row else ""
        )
        print(
            f"  {name:<10} n = {n:5d}: {row['seconds']:7.2f} s (autograd {row['autograd_s'] * 1e3:8.1f} ms, formula "
            f"{row['formula_s'] * 1e3:8.1f} ms, ratio {row['ratio']:.2f}), max error {row['max_error']:.1e} "
            f"<= {row['allowed']:.1e}: {'pass' if row['passed'] else 'FAIL'}{agree}",
            flush=True,
        )
        if row["seconds"] > budget:
            break
        n *= 2
    return rows


def largest_within(rows: list[dict], budget: float) -> int | None:
    """The largest n verified (passed) within the budget."""
    ok = [r["n"] for r in rows if r["passed"] and r["seconds"] <= budget]
    return max(ok) if ok else None


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    parser.add_argument(
        "--models", nargs="+", choices=tuple(SIZES), default=list(SIZES)
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=10.0,
        help="seconds one verification may take (default 10)",
    )
    parser.add_argument(
        "--max-n",
        type=int,
        help="largest n tried (default 8192 on the CPU, 16384 on CUDA)",
    )
    parser.add_argument(
        "--d-k",
        type=int,
        default=128,
        help="d_k for attention; the encoder's d_model (default 128)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda: this machine has no CUDA device")
    max_n = args.max_n or (16384 if args.device == "cuda" else 8192)
    where = (
        torch.cuda.get_device_name()
        if args.device == "cuda"
        else f"{platform.processor() or platform.machine()}, {torch.get_num_threads()} threads"
    )
    print(
        f"scale on {args.device} ({where}), float64, batch 1, d_k {args.d_k}, budget {args.budget:g} s, torch {torch.__version__}"
    )
    result = {
        "device": args.device,
        "where": where,
        "budget_s": args.budget,
        "d_k": args.d_k,
        "torch": torch.__version__,
        "models": {},
    }
    for name in args.models:
        rows = scale(name, args.device, args.d_k, args.budget, max_n)
        result["models"][name] = {
            "rows": rows,
            "largest_n_within_budget": largest_within(rows, args.budget),
        }
        print(
            f"  {name}: largest n verified within {args.budget:g} s: {largest_within(rows, args.budget)}"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    main()
