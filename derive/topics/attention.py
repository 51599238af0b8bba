"""Scaled dot-product attention (LECTURE.md section 5), with and without a causal mask.

``S = Q K^T / sqrt(d_k)``, ``A = softmax(S)`` row by row, ``O = A V``; the scalar is
``L = sum(G * O)`` for an upstream gradient ``G`` (``*`` elementwise), so ``dL/dO = G``.
Entrywise proofs differentiate the whole of ``L`` with respect to every entry of Q, K, V;
their cost grows like n^5 (PITFALLS.md), so sizes stop at n, d_k <= 3. Larger sizes are the
business of the matrix route (graphs/) and the numeric route (verify/).
"""

from __future__ import annotations

import sympy as sp

from ..atoms import matrix
from ..concrete import causal_mask, hadamard, row_sums, softmax_rows, total
from ..notation import RowSum, size
from ..spec import Claim, Lazy, Topic, grad, grid, pair_claim
from ..types import Sizes, SymbolSpec


def _softmax_backward(A: sp.Matrix, dA: sp.Matrix) -> sp.Matrix:
    """dS = A * (dA - rowsum(dA * A)), the row-softmax VJP."""
    sums = row_sums(hadamard(dA, A))
    return sp.Matrix(A.rows, A.cols, lambda i, j: A[i, j] * (dA[i, j] - sums[i]))


def _attention(prefix: str, Q: sp.Matrix, K: sp.Matrix, V: sp.Matrix, G: sp.Matrix, mask: sp.Matrix | None) -> dict:
    n, d_k = Q.shape
    scale = 1 / sp.sqrt(d_k)
    S = Q * K.T * scale
    A = softmax_rows(S, mask)
    O = A * V
    L = total(hadamard(G, O))
    # The same scalar with A, and with S, as free matrices: the intermediate adjoints.
    A_free, S_free = matrix("A", n, n), matrix("S", n, n)
    if mask is not None:
        A_free = hadamard(A_free, mask)
    L_of_A = total(hadamard(G, A_free * V))
    L_of_S = total(hadamard(G, softmax_rows(S_free, mask) * V))
    A_of_S = softmax_rows(S_free, mask)
    dA = G * V.T
    dS = _softmax_backward(A, dA)
    free_A = matrix("A", n, n)
    return {
        f"{prefix}L": L,
        f"{prefix}A": A,
        f"{prefix}dS_closed": dS,
        f"{prefix}A_of_S": A_of_S,
        f"{prefix}dV": Lazy(lambda: (grad(L, V), A.T * G)),
        f"{prefix}dA": Lazy(lambda: (
            grad(L_of_A, A_free) if mask is None else hadamard(grad(L_of_A, free_A), mask),
            hadamard(G * V.T, mask) if mask is not None else G * V.T,
        )),
        f"{prefix}dS": Lazy(lambda: (grad(L_of_S, S_free), _softmax_backward(A_of_S, G * V.T))),
        f"{prefix}dQ": Lazy(lambda: (grad(L, Q), dS * K * scale)),
        f"{prefix}dK": Lazy(lambda: (grad(L, K), dS.T * Q * scale)),
    }


def build(sizes: Sizes) -> dict:
    n, d_k = sizes["n"], sizes["d_k"]
    Q, K, V, G = (matrix(name, n, d_k) for name in ("Q", "K", "V", "G"))
    env = {"Q": Q, "K": K, "V": V, "G": G}
    env.update(_attention("", Q, K, V, G, None))
    env.update(_attention("causal_", Q, K, V, G, causal_mask(n, n)))
    env["forward"] = env["L"]
    return env


_n, _d = size("n"), size("d_k")
_Q, _K, _V, _G = (sp.MatrixSymbol(name, _n, _d) for name in ("Q", "K", "V", "G"))
_A, _dA, _dS = (sp.MatrixSymbol(name, _n, _n) for name in ("A", "dA", "dS"))

# target, lecture form, statement, reason
_FORMS = {
    "dV": (lambda: _A.T * _G, "dL/dV = A^T G", "O = A V is linear in V"),
    "dA": (lambda: _G * _V.T, "dL/dA = G V^T", "O = A V is linear in A"),
    "dS": (
        lambda: sp.HadamardProduct(_A, _dA - RowSum(sp.HadamardProduct(_dA, _A))),
        "dL/dS = A * (dA - rowsum(dA * A)), with dA = G V^T",
        "the row-softmax Jacobian diag(a) - a a^T applied to each row of dA",
    ),
    "dQ": (lambda: _dS * _K / sp.sqrt(_d), "dL/dQ = dS K / sqrt(d_k)", "S = Q K^T / sqrt(d_k) is linear in Q"),
    "dK": (lambda: _dS.T * _Q / sp.sqrt(_d), "dL/dK = dS^T Q / sqrt(d_k)", "S^T = K Q^T / sqrt(d_k) is linear in K"),
}

_GRID = grid(n=range(1, 4), d_k=range(1, 4))


def _claims(prefix: str, label: str, note: str) -> tuple[Claim, ...]:
    return tuple(
        pair_claim(
            f"{prefix}{target}",
            key=f"{prefix}grad_{target[1:]}",
            target=f"{target}{label}",
            wrt=target[1:],
            statement=statement + note,
            reason=reason + "; L = sum(G * O) is differentiated exactly, entry by entry",
            form=form,
            sizes=_GRID,
        )
        for target, (form, statement, reason) in _FORMS.items()
    )


TOPIC = Topic(
    name="attention",
    title="Scaled dot-product attention",
    section="5. Transformer (scaled dot-product attention)",
    symbols=(
        SymbolSpec("Q, K, V", ("n", "d_k"), "real", "queries, keys, values (one row per position)"),
        SymbolSpec("S", ("n", "n"), "real", "scores S = Q K^T / sqrt(d_k)"),
        SymbolSpec("A", ("n", "n"), "rows on the simplex", "A = softmax(S), row by row"),
        SymbolSpec("O", ("n", "d_k"), "real", "output O = A V"),
        SymbolSpec("G", ("n", "d_k"), "real", "upstream gradient dL/dO; L = sum(G * O)"),
        SymbolSpec("M", ("n", "n"), "{0, 1}", "causal mask: M_ij = 1 for j <= i (masked scores are -inf)"),
    ),
    assumptions=(
        "V has d_v = d_k columns here (the formulas do not depend on it)",
        "with a causal mask, masked entries of A are exactly 0 and each row keeps at least one key",
    ),
    default_sizes={"n": 2, "d_k": 2},
    grid=_GRID,
    size_limits={"n": (1, 4), "d_k": (1, 4)},
    build=build,
    claims=_claims("", "", "")
    + _claims("causal_", " (causal mask)", "; with the causal mask, A and dS are 0 where masked"),
)
