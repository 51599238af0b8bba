"""Scaled dot-product attention (LECTURE.md section 5), with and without a causal mask.

``S = Q K^T / sqrt(d_k)``, ``A = softmax(S)`` row by row, ``O = A V``; the scalar is
``L = sum(G * O)`` for an upstream gradient ``G`` (``*`` elementwise), so ``dL/dO = G``.
Entrywise proofs differentiate the whole of ``L`` with respect to every entry of Q, K, V;
their cost grows like n^5 (PITFALLS.md), so sizes stop at n, d_k <= 3. Larger sizes are the
business of the matrix route (graphs/) and the numeric route (verify/).
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..atoms import matrix
from ..concrete import causal_mask, hadamard, row_sums, softmax_rows, total
from ..indexcalc import collapse_in_ranges, index_diff, sum_over_permutation
from ..notation import Partial, RowSum, size
from ..spec import Claim, IndexForm, Lazy, Topic, grad, grid, pair_claim
from ..theorems import Expectation, expectation, expectation_step, index_expectation, square_of_sum
from ..types import Sizes, Step, SymbolSpec


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
    env["equivariance"] = Lazy(lambda: _equivariance(n, d_k))
    env["causal_block"] = Lazy(lambda: _causal_block(n, d_k))
    return env


def self_attention(X: sp.Matrix, W_Q: sp.Matrix, W_K: sp.Matrix, W_V: sp.Matrix, mask: sp.Matrix | None = None) -> sp.Matrix:
    """``softmax(X W_Q (X W_K)^T / sqrt(d_k)) X W_V``, row by row, without positional encoding."""
    Q, K = X * W_Q, X * W_K
    return softmax_rows(Q * K.T / sp.sqrt(W_Q.cols), mask) * (X * W_V)


def _weights(d: int, d_k: int) -> tuple[sp.Matrix, ...]:
    return tuple(matrix(name, d, d_k) for name in ("Wq", "Wk", "Wv"))


def permutations(n: int) -> list[sp.Matrix]:
    """The generators of all permutations of n rows: the swap of rows 1 and 2 and the cycle 1 -> 2 -> ... -> n.

    >>> [p.tolist() for p in permutations(2)]
    [[[0, 1], [1, 0]], [[0, 1], [1, 0]]]
    """
    if n == 1:
        return [sp.eye(1)]
    swap = sp.eye(n)
    swap[0, 0], swap[0, 1], swap[1, 0], swap[1, 1] = 0, 1, 1, 0
    cycle = sp.Matrix(n, n, lambda i, j: 1 if j == (i + 1) % n else 0)
    return [swap, cycle]


def _equivariance(n: int, d_k: int) -> tuple[sp.Matrix, sp.Matrix]:
    X, weights = matrix("X", n, d_k), _weights(d_k, d_k)
    Y = self_attention(X, *weights)
    return (sp.Matrix.vstack(*[self_attention(P * X, *weights) for P in permutations(n)]),
            sp.Matrix.vstack(*[P * Y for P in permutations(n)]))


def _causal_block(n: int, d_k: int) -> tuple[sp.Matrix, sp.Matrix]:
    """dY_ia / dX_jb for every j > i, under the causal mask: the block above the diagonal."""
    X, weights = matrix("X", n, d_k), _weights(d_k, d_k)
    Y = self_attention(X, *weights, mask=causal_mask(n, n))
    entries = [sp.Derivative(Y[i, a], X[j, b]) for i in range(n) for j in range(i + 1, n)
               for a in range(d_k) for b in range(d_k)]
    return sp.Matrix(len(entries), 1, entries), sp.zeros(len(entries), 1)


# E[S_12^2] for one score S = q . k / sqrt(d_k), q and k with independent entries of mean 0 and variance 1.
_dk = size("d_k")


_q_entry, _k_entry = sp.IndexedBase("q", real=True), sp.IndexedBase("k", real=True)
_a, _b = sp.Symbol("a", integer=True), sp.Symbol("b", integer=True)


def _score(d_k: sp.Expr) -> sp.Expr:
    """The score's definition: S = q . k / sqrt(d_k) = sum_a q_a k_a / sqrt(d_k), at a number or a symbol d_k."""
    return sp.Sum(_q_entry[_a] * _k_entry[_a], (_a, 1, d_k)) / sp.sqrt(d_k)


# The stated moments: E[x_a] = 0 and E[x_a x_b] = delta_ab for x = q and for x = k, q independent of k.
_UNIT_MOMENTS = {1: lambda a: sp.S.Zero, 2: sp.KroneckerDelta}


def _score_second_moment(sizes: Sizes) -> sp.Expr:
    """E[S^2] at d_k = sizes["d_k"]: the definition's sum written out, then E of the polynomial exactly."""
    d_k = sizes["d_k"]
    score = _score(sp.Integer(d_k)).doit()
    entries = [_q_entry[a] for a in range(1, d_k + 1)] + [_k_entry[a] for a in range(1, d_k + 1)]
    return expectation(score**2, entries, {1: sp.S.Zero, 2: sp.S.One})


def unit_variance_scale(sizes: Sizes) -> sp.Expr:
    """The c with Var(q . k / c) = 1: sqrt(E[(q . k)^2]) for the unscaled dot product, E taken exactly from the
    stated moments (E[q . k] = 0), as SCORE_VARIANCE's value is. A homework problem's key (why 1/sqrt(d_k)).

    >>> unit_variance_scale({"d_k": 4})
    2
    """
    d_k = sizes["d_k"]
    dot = sum(_q_entry[a] * _k_entry[a] for a in range(1, d_k + 1))
    entries = [_q_entry[a] for a in range(1, d_k + 1)] + [_k_entry[a] for a in range(1, d_k + 1)]
    return sp.sqrt(expectation(sp.expand(dot**2), entries, {1: sp.S.Zero, 2: sp.S.One}))


def _score_second_moment_symbolic() -> sp.Expr:
    """E[S^2] at symbolic d_k from the definition: S^2 = (1/d_k) sum_a sum_b q_a k_a q_b k_b (square_of_sum), then
    by linearity and independence E[q_a q_b k_a k_b] = E[q_a q_b] E[k_a k_b] = delta_ab^2, the sum over b
    collapses and the sum over a counts d_k ones (index_expectation)."""
    return index_expectation(square_of_sum(_score(_dk), _b), {_q_entry: _UNIT_MOMENTS, _k_entry: _UNIT_MOMENTS})


SCORE_VARIANCE = Expectation(
    key="score_variance",
    statement="Var(S_ij) = 1 for S = Q K^T / sqrt(d_k) when q = Q_i and k = K_j have independent entries "
    "of mean 0 and variance 1: the 1/sqrt(d_k) scaling keeps the scores' variance at 1 for every d_k",
    reason="E[S_ij] = sum_a E[q_a] E[k_a] / sqrt(d_k) = 0, and by linearity E[S_ij^2] = (1/d_k) sum_a sum_b "
    "E[q_a q_b] E[k_a k_b] = (1/d_k) sum_a E[k_a^2] = 1 with E[q_a q_b] = delta_ab",
    display=sp.Eq(sp.Symbol("Var(S_ij)"), 1, evaluate=False),
    value=_score_second_moment,
    claimed=lambda sizes: sp.S.One,
    sizes=tuple({"d_k": d} for d in range(1, 7)),
    symbolic=_score_second_moment_symbolic,
    rests_on=("stated moments: E[q_a] = E[k_a] = 0, E[q_a q_b] = E[k_a k_b] = delta_ab, q independent of k; "
              "E[S] = 0, so Var(S) = E[S^2]",),
)


def _facts() -> list[Step]:
    return [expectation_step(SCORE_VARIANCE)]


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

# Self-attention in index form, at symbolic n and d_k (issue 19): X is n x d_k, each weight d_k x d_k, as
# self_attention builds it. A causal mask is the range of the sums: row i attends to keys k = 1..i only.
_x, _Wq, _Wk, _Wv = (sp.IndexedBase(name, real=True) for name in ("X", "Wq", "Wk", "Wv"))
_row, _col, _later = (sp.Symbol(name, integer=True, positive=True) for name in ("i", "a", "e"))
_gap = sp.Symbol("m", integer=True, positive=True)  # the input row i + m, m >= 1: a later position
_key, _other, _b, _c, _c2, _c3 = (sp.Symbol(name, integer=True) for name in ("k", "l", "b", "c", "c'", "c''"))
_pi = sp.Function("pi")  # a permutation of the positions 1..n: (P X)_{r,c} = X_{pi(r),c}


def _index_output(row: sp.Expr, last_key: sp.Expr, position: Callable[[sp.Expr], sp.Expr] = lambda r: r) -> sp.Expr:
    """Y_{row,a} = sum_{k<=last_key} e^{S_{row,k}} V_ka / sum_{l<=last_key} e^{S_{row,l}} with V = X W_V, for the
    input whose row r is X's row ``position(r)`` (a permuted X)."""
    def projected(weight: sp.IndexedBase, r: sp.Expr, column: sp.Expr, dummy: sp.Symbol) -> sp.Expr:
        return sp.Sum(_x[position(r), dummy] * weight[dummy, column], (dummy, 1, _d))

    def score(query: sp.Expr, key: sp.Expr) -> sp.Expr:
        return sp.Sum(projected(_Wq, query, _b, _c) * projected(_Wk, key, _b, _c2), (_b, 1, _d)) / sp.sqrt(_d)

    weights = sp.Sum(sp.exp(score(row, _key)) * projected(_Wv, _key, _col, _c3), (_key, 1, last_key))
    return weights / sp.Sum(sp.exp(score(row, _other)), (_other, 1, last_key))


def causal_output_entry() -> sp.Expr:
    """Y_ia = sum_{k<=i} e^{S_ik} V_ka / sum_{l<=i} e^{S_il}: one entry of causal self-attention at symbolic
    sizes (tests compare it with self_attention's entries at concrete sizes)."""
    return _index_output(_row, _row)


_EQUIVARIANCE = IndexForm(
    # Attention(P X)_{ia}, its sums over every key renamed k -> pi(k) (a permutation of 1..n), against
    # (P Attention(X))_{ia} = Attention(X)_{pi(i), a}
    derived=lambda: sum_over_permutation(_index_output(_row, _n, _pi), _pi, 1, _n),
    claimed=lambda: _index_output(_pi(_row), _n),
)
_CAUSAL_INDEPENDENCE = IndexForm(
    # d Y_ia / d X_{i+m, e}: every Kronecker delta pairs the later row i + m with i or with a key k <= i
    derived=lambda: collapse_in_ranges(index_diff(causal_output_entry(), _x[_row + _gap, _later]), {}),
    claimed=lambda: sp.S.Zero,
)


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
    + _claims("causal_", " (causal mask)", "; with the causal mask, A and dS are 0 where masked")
    + (
        pair_claim(
            "equivariance", key="permutation_equivariance",
            statement="self-attention without positional encoding is permutation equivariant: "
            "Attention(P X) = P Attention(X) for every permutation matrix P",
            reason="(P X) W = P (X W) for Q, K and V, the scores become P S P^T, a row softmax commutes with "
            "permuting rows and columns, and P^T P = I; checked for the swap and the cycle, which generate "
            "every permutation (equivariance is kept under composition); at symbolic n and d_k, Attention(P X)_ia "
            "in index form, with (P X)_rc = X_{pi(r), c}, equals Attention(X)_{pi(i), a} once each sum over all n "
            "keys is taken in the order k -> pi(k) (a permutation of 1..n leaves a sum over 1..n unchanged)",
            display=lambda: sp.Eq(sp.Symbol("Attention(P X)"), sp.Symbol("P Attention(X)"), evaluate=False),
            sizes=grid(n=range(1, 4), d_k=range(1, 3)),
            index=_EQUIVARIANCE,
        ),
        pair_claim(
            "causal_block", key="causal_independence",
            statement="with a causal mask, output i does not depend on inputs j > i: dY_i/dX_j = 0 for j > i "
            "(the Jacobian's blocks above the diagonal are 0)",
            reason="for j > i the mask removes key j from row i's softmax, and V's row j has weight A_ij = 0; "
            "every entry of those blocks differentiated exactly; at symbolic n and d_k, Y_ia = sum_{k<=i} "
            "e^{S_ik} V_ka / sum_{l<=i} e^{S_il} in index form differentiated by X_{i+m,e} with m >= 1: each "
            "Kronecker delta pairs i + m with i or with a key k <= i, so every term is 0",
            display=lambda: sp.Eq(Partial("Y_i", "X_j"), 0, evaluate=False),
            sizes=grid(n=range(2, 5), d_k=range(1, 3)),
            index=_CAUSAL_INDEPENDENCE,
        ),
    ),
    facts=lambda: _facts(),
)
