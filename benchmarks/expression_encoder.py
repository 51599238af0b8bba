"""A 12-layer Transformer encoder written as one forward expression: how long the matrix form takes,
and the compiled gradient against autograd on it.

1. ``derive --expr``'s matrix form: reading the forward (parse, build the graph at symbolic sizes)
   and reverse mode over it, in this process, median of a few runs; the baseline is the catalog's
   hand-built one-layer encoder model (graphs/models.py) read and reversed the same way, times 12.
2. The compiled batched gradient (verify/compile.py) against ``torch.autograd.grad`` of the same
   forward run op by op (verify/graph_forward.py), same inputs, float64 on the CPU (and CUDA when
   present); ratio compiled / autograd, and the largest difference between the two.

Numbers are printed, never asserted.

    python benchmarks/expression_encoder.py [--layers 12] [--n 32] [--d 64] [--batch 8] [--repeats 3]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

LAYER = """
  A_1 = softmax(X W_{Q1,l} W_{K1,l}^T X^T / sqrt(d_k)) X W_{V1,l}
  A_2 = softmax(X W_{Q2,l} W_{K2,l}^T X^T / sqrt(d_k)) X W_{V2,l}
  Z = X + concat(A_1, A_2) W_{O,l}
  C = Z - rowmean(Z)
  Y = C / sqrt(rowmean(C ⊙ C) + epsilon) ⊙ (1 gamma_{1,l}^T) + 1 beta_{1,l}^T
  F = Y + relu(Y W_{1,l} + 1 b_{1,l}^T) W_{2,l} + 1 b_{2,l}^T
  D = F - rowmean(F)
  X = D / sqrt(rowmean(D ⊙ D) + epsilon) ⊙ (1 gamma_{2,l}^T) + 1 beta_{2,l}^T
"""
SHAPES = {
    "X": "n,d", "G": "n,d", **{f"W_{{{h},l}}": "d,d_k" for h in ("Q1", "K1", "V1", "Q2", "K2", "V2")},
    "W_{O,l}": "2 d_k,d", "gamma_{1,l}": "d", "beta_{1,l}": "d", "gamma_{2,l}": "d", "beta_{2,l}": "d",
    "W_{1,l}": "d,d_ff", "b_{1,l}": "d_ff", "W_{2,l}": "d_ff,d", "b_{2,l}": "d",
}


def encoder_text(layers: int) -> str:
    """The forward: ``layers`` post-norm encoder layers (two heads each), then ``L = sum(G ⊙ X)``."""
    return f"repeat l = 1..{layers} {{{LAYER}}}\nL = sum(G ⊙ X)"


def _median(run, repeats: int) -> float:
    from compiled_vs_autograd import _seconds  # a warm-up run, then the median (and the minimum)

    return _seconds(run, repeats)[0]


def matrix_form(layers: int, repeats: int) -> dict:
    from graphs.backprop import backprop
    from graphs.models import model
    from verify.expression import read_forward

    text = encoder_text(layers)
    wrt = [name for name in SHAPES if name != "G"]
    read_forward(text, SHAPES, wrt=wrt)  # imports and the parser's tables, once

    def from_expression() -> None:
        forward = read_forward(text, SHAPES, wrt=wrt)
        backprop(forward.build())

    def catalog_block() -> None:
        backprop(model("encoder"))

    ours = _median(from_expression, repeats)
    block = _median(catalog_block, repeats)
    nodes = read_forward(text, SHAPES, wrt=wrt).build().graph.number_of_nodes()
    print(f"matrix form of a {layers}-layer encoder from its expression ({nodes} graph nodes): {ours:.3f} s "
          f"(catalog one-layer block built in Python and reversed: {block:.3f} s; x{layers} = {block * layers:.3f} s)")
    return {"layers": layers, "nodes": nodes, "expression_s": ours, "catalog_block_s": block}


def compiled_vs_autograd(layers: int, sizes: dict[str, int], batch: int, repeats: int, device: str) -> dict:
    import torch

    from verify.compile import compile_gradients
    from verify.expression import read_forward
    from verify.graph_forward import loss

    forward = read_forward(encoder_text(layers), SHAPES, wrt=[name for name in SHAPES if name != "G"])
    m = forward.build()
    generator = torch.Generator().manual_seed(0)
    tensors = {}
    for node, data in m.graph.nodes(data=True):
        if data["op"] == "input":
            shape = tuple(int(s.subs({sym: sizes[sym.name] for sym in s.free_symbols})) for s in data["shape"])
            scale = 1.0 if node in ("X", "G") else shape[0] ** -0.5
            tensors[node] = (torch.randn(batch, *shape, generator=generator, dtype=torch.float64) * scale).to(device)
    compiled = compile_gradients(m)
    sources = m.sources

    def ours() -> dict:
        out = compiled(**tensors)
        if device == "cuda":
            torch.cuda.synchronize()
        return out

    def autograd() -> tuple:
        leaves = {k: (v.clone().requires_grad_(k in sources)) for k, v in tensors.items()}
        grads = torch.autograd.grad(loss(m, leaves).sum(), [leaves[s] for s in sources])
        if device == "cuda":
            torch.cuda.synchronize()
        return grads

    got, expected = ours(), autograd()
    worst = max(float((got[s] - e).abs().max()) for s, e in zip(sources, expected))
    t_ours, t_autograd = _median(ours, repeats), _median(autograd, repeats)
    print(f"compiled gradient of {len(sources)} inputs, {device}, batch {batch}, "
          f"{', '.join(f'{k}={v}' for k, v in sizes.items())}: {t_ours * 1e3:.1f} ms vs autograd {t_autograd * 1e3:.1f} ms "
          f"(ratio {t_ours / t_autograd:.2f}); largest difference {worst:.1e}")
    return {"device": device, "compiled_s": t_ours, "autograd_s": t_autograd, "ratio": t_ours / t_autograd,
            "max_abs_difference": worst}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--d", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args(argv)
    import torch

    figures = {"matrix_form": matrix_form(args.layers, args.repeats)}
    sizes = {"n": args.n, "d": args.d, "d_k": args.d // 2, "d_ff": 4 * args.d}
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    figures["compiled"] = [compiled_vs_autograd(args.layers, sizes, args.batch, args.repeats, d) for d in devices]
    return figures


if __name__ == "__main__":
    main()
