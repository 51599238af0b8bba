"""A convolution layer as CNN libraries compute it: 2-D cross-correlation (LECTURE.md section 3).

``Y[o] = sum_c corr(X[c], W[o, c]) + b[o]`` with ``corr(X, K)[i, j] = sum_{a,b} X[i+a, j+b] K[a, b]``
(valid, stride 1). ``L = sum(G * Y)``. True convolution flips the kernel:
``conv(X, K)[t] = sum_tau X[tau] K[t - tau]`` (full). Sizes are given as the output size
(``oh x ow``) and the kernel size (``kh x kw``); the input is ``(oh + kh - 1) x (ow + kw - 1)``.
"""

from __future__ import annotations

from functools import cache

import sympy as sp

from ..atoms import matrix, vector
from ..concrete import hadamard, total
from ..indexcalc import collapse_in_ranges, index_diff
from ..notation import size
from ..spec import Claim, IndexForm, Lazy, Topic, grad, grid, pair_claim
from ..types import Sizes, SymbolSpec


def correlate(X: sp.Matrix, K: sp.Matrix) -> sp.Matrix:
    """Valid 2-D cross-correlation, what ``torch.nn.functional.conv2d`` computes.

    >>> correlate(sp.Matrix([[1, 2, 3], [4, 5, 6]]), sp.Matrix([[1, 0], [0, 1]]))
    Matrix([[6, 8]])
    """
    rows, cols = X.rows - K.rows + 1, X.cols - K.cols + 1
    # Nested lists and Python ints: indexing a SymPy Matrix (or with SymPy Integers) is slow.
    x, k = X.tolist(), K.tolist()
    return sp.Matrix([
        [sp.Add(*[x[i + a][j + b] * k[a][b] for a in range(K.rows) for b in range(K.cols)]) for j in range(cols)]
        for i in range(rows)
    ])


def convolve_full(X: sp.Matrix, K: sp.Matrix) -> sp.Matrix:
    """Full 2-D convolution by its textbook definition, ``y[t] = sum_tau x[tau] k[t - tau]``.

    >>> convolve_full(sp.Matrix([[1, 2]]), sp.Matrix([[1, 1]]))
    Matrix([[1, 3, 2]])
    """
    rows, cols = X.rows + K.rows - 1, X.cols + K.cols - 1
    x, k = X.tolist(), K.tolist()

    def entry(t: int, u: int) -> sp.Expr:
        return sp.Add(*[
            x[a][b] * k[t - a][u - b]
            for a in range(X.rows) for b in range(X.cols)
            if 0 <= t - a < K.rows and 0 <= u - b < K.cols
        ])

    return sp.Matrix([[entry(t, u) for u in range(cols)] for t in range(rows)])


def flip(K: sp.Matrix) -> sp.Matrix:
    """The kernel rotated by 180 degrees."""
    return sp.Matrix(K.rows, K.cols, lambda a, b: K[K.rows - 1 - a, K.cols - 1 - b])


def pad(X: sp.Matrix, rows: int, cols: int) -> sp.Matrix:
    """``X`` with ``rows`` zero rows above and below and ``cols`` zero columns on each side."""
    out = sp.zeros(X.rows + 2 * rows, X.cols + 2 * cols)
    out[rows:rows + X.rows, cols:cols + X.cols] = X
    return out


def _stack(blocks: list[sp.Matrix]) -> sp.Matrix:
    return sp.Matrix.vstack(*blocks)


def build(sizes: Sizes) -> dict:
    c_in, c_out = sizes["c_in"], sizes["c_out"]
    kh, kw, oh, ow = sizes["kh"], sizes["kw"], sizes["oh"], sizes["ow"]
    X = [matrix(f"X{c + 1}_", oh + kh - 1, ow + kw - 1) for c in range(c_in)]
    W = [[matrix(f"W{o + 1}{c + 1}_", kh, kw) for c in range(c_in)] for o in range(c_out)]
    b = vector("b", c_out)
    G = [matrix(f"G{o + 1}_", oh, ow) for o in range(c_out)]

    # Each claim reads only some of these, and the grid has 324 sizes: build each on first use.
    @cache
    def loss() -> sp.Expr:
        Y = [sp.Matrix(oh, ow, lambda i, j, o=o: b[o])
             + sum((correlate(X[c], W[o][c]) for c in range(c_in)), sp.zeros(oh, ow)) for o in range(c_out)]
        return sp.Add(*[total(hadamard(G[o], Y[o])) for o in range(c_out)])

    @cache
    def dX_claimed() -> sp.Matrix:
        return _stack([
            sum((correlate(pad(G[o], kh - 1, kw - 1), flip(W[o][c])) for o in range(c_out)), sp.zeros(*X[c].shape))
            for c in range(c_in)
        ])

    return {
        "L": Lazy(loss), "forward": Lazy(loss),
        "dW": Lazy(lambda: (_stack([grad(loss(), W[o][c]) for o in range(c_out) for c in range(c_in)]),
                            _stack([correlate(X[c], G[o]) for o in range(c_out) for c in range(c_in)]))),
        "dX": Lazy(lambda: (_stack([grad(loss(), X[c]) for c in range(c_in)]), dX_claimed())),
        "db": Lazy(lambda: (grad(loss(), b), sp.Matrix([total(G[o]) for o in range(c_out)]))),
        "conv_vs_corr": Lazy(lambda: (
            _stack([convolve_full(X[c], W[0][c]) for c in range(c_in)]),
            _stack([correlate(pad(X[c], kh - 1, kw - 1), flip(W[0][c])) for c in range(c_in)]),
        )),
        "dX_is_convolution": Lazy(lambda: (
            dX_claimed(),
            _stack([sum((convolve_full(G[o], W[o][c]) for o in range(c_out)), sp.zeros(*X[c].shape))
                    for c in range(c_in)]),
        )),
    }


_GRID = grid(c_in=[1, 2], c_out=[1, 2], oh=range(1, 4), ow=range(1, 4), kh=range(1, 4), kw=range(1, 4))
_oh, _ow = size("H_out"), size("W_out")


def _fn(name: str):
    return sp.Function(name)


def _claim(key: str, env_key: str, target: str | None, wrt: str, statement: str, reason: str, display,
           index: IndexForm | None = None) -> Claim:
    return pair_claim(
        env_key, key=key, target=target, wrt=wrt, statement=statement, reason=reason, display=display, sizes=_GRID,
        index=index,
    )


# The layer in index form at symbolic sizes (0-based, as correlate indexes): L = sum_{o,i,j} G[o,i,j] Y[o,i,j],
# Y[o,i,j] = b[o] + sum_{c,a,b} W[o,c,a,b] X[c,i+a,j+b]. A gradient entry's own indices (O, C, A, B) run over
# their stated ranges, which is what lets a Kronecker delta inside a sum collapse.
_sizes = {name: size(name) for name in ("c_in", "c_out", "oh", "ow", "kh", "kw")}
_wo, _wc, _wa, _wb = (sp.Symbol(name, integer=True, nonnegative=True) for name in ("O", "C", "A", "B"))
_Wi, _bi = sp.IndexedBase("W", real=True), sp.IndexedBase("b", real=True)
_RANGES = {_wo: (0, _sizes["c_out"] - 1), _wc: (0, _sizes["c_in"] - 1), _wa: (0, _sizes["kh"] - 1),
           _wb: (0, _sizes["kw"] - 1)}


def _index_outputs(term: sp.Expr) -> sp.Expr:
    return sp.Sum(term, (_i, 0, _sizes["oh"] - 1), (_j, 0, _sizes["ow"] - 1))


def _index_loss() -> sp.Expr:
    kernel = sp.Sum(_Wi[_o, _c, _a, _b] * _Xi[_c, _i + _a, _j + _b],
                    (_c, 0, _sizes["c_in"] - 1), (_a, 0, _sizes["kh"] - 1), (_b, 0, _sizes["kw"] - 1))
    return sp.Sum(_index_outputs(_Gi[_o, _i, _j] * (_bi[_o] + kernel)), (_o, 0, _sizes["c_out"] - 1))


def _index_gradient(entry: sp.Indexed) -> sp.Expr:
    return collapse_in_ranges(index_diff(_index_loss(), entry), _RANGES)


_X, _G, _K = sp.Symbol("X_c"), sp.Symbol("G_o"), sp.Symbol("W_oc")
_o, _c, _a, _b, _i, _j = (sp.Symbol(name, integer=True) for name in ("o", "c", "a", "b", "i", "j"))
_Gi, _Xi, _dW, _db = (sp.IndexedBase(name) for name in ("G", "X", "dW", "db"))


def _over_outputs(term: sp.Expr) -> sp.Expr:
    return sp.Sum(term, (_i, 0, _oh - 1), (_j, 0, _ow - 1))

TOPIC = Topic(
    name="conv",
    title="Convolution layer (2-D cross-correlation) and its gradients",
    section="3. Convolutional networks",
    symbols=(
        SymbolSpec("X", ("c_in", "oh + kh - 1", "ow + kw - 1"), "real", "input feature maps"),
        SymbolSpec("W", ("c_out", "c_in", "kh", "kw"), "real", "kernels"),
        SymbolSpec("b", ("c_out",), "real", "one bias per output channel"),
        SymbolSpec("Y", ("c_out", "oh", "ow"), "real", "Y[o] = sum_c corr(X[c], W[o, c]) + b[o]"),
        SymbolSpec("G", ("c_out", "oh", "ow"), "real", "upstream gradient dL/dY; L = sum(G * Y)"),
    ),
    assumptions=("stride 1, no padding, no dilation (valid correlation)",),
    default_sizes={"c_in": 1, "c_out": 1, "oh": 2, "ow": 2, "kh": 2, "kw": 2},
    grid=_GRID,
    size_limits={"c_in": (1, 3), "c_out": (1, 3), "oh": (1, 5), "ow": (1, 5), "kh": (1, 4), "kw": (1, 4)},
    build=build,
    claims=(
        _claim("conv_vs_corr", "conv_vs_corr", None, "", "conv(X, K) = corr(pad(X, k - 1), flip(K)): convolution is "
               "correlation with the kernel flipped (what CNN libraries call convolution is correlation)",
               "substitute tau = t - a in sum_tau X[tau] K[t - tau]; the zero padding supplies the terms "
               "outside X", lambda: sp.Eq(_fn("conv")(_X, _K), _fn("corr")(_fn("pad")(_X), _fn("flip")(_K)), evaluate=False)),
        _claim("grad_W", "dW", "dW", "W", "dL/dW[o, c] = corr(X[c], G[o]): the input correlated with the upstream gradient",
               "dY[o][i, j]/dW[o, c][a, b] = X[c][i + a, j + b]; at symbolic sizes, dL/dW[O, C, A, B] in index form, "
               "the delta of each kernel index collapsed within its range",
               lambda: sp.Eq(_dW[_o, _c, _a, _b], _over_outputs(_Gi[_o, _i, _j] * _Xi[_c, _i + _a, _j + _b]), evaluate=False),
               IndexForm(derived=lambda: _index_gradient(_Wi[_wo, _wc, _wa, _wb]),
                         claimed=lambda: _index_outputs(_Xi[_wc, _wa + _i, _wb + _j] * _Gi[_wo, _i, _j]))),
        _claim("grad_X", "dX", "dX", "X", "dL/dX[c] = sum_o corr(pad(G[o], k - 1), flip(W[o, c]))",
               "each X[c][p, q] meets W[o, c][a, b] in output (p - a, q - b); zero padding drops the outputs that do not exist",
               lambda: sp.Eq(sp.Symbol("dX_c"), sp.Sum(_fn("corr")(_fn("pad")(_G), _fn("flip")(_K)), (sp.Symbol("o"), 1, sp.Symbol("c_out"))), evaluate=False)),
        _claim("dX_is_convolution", "dX_is_convolution", None, "", "so dL/dX[c] = sum_o conv(G[o], W[o, c]): the full convolution of the "
               "upstream gradient with the kernel (correlation with the flipped kernel)",
               "the previous identity applied to G[o] and W[o, c]",
               lambda: sp.Eq(sp.Symbol("dX_c"), sp.Sum(_fn("conv")(_G, _K), (sp.Symbol("o"), 1, sp.Symbol("c_out"))), evaluate=False)),
        _claim("grad_b", "db", "db", "b", "dL/db[o] = sum of G[o]", "b[o] is added to every entry of Y[o]; at "
               "symbolic sizes, dL/db[O] in index form",
               lambda: sp.Eq(_db[_o], _over_outputs(_Gi[_o, _i, _j]), evaluate=False),
               IndexForm(derived=lambda: _index_gradient(_bi[_wo]), claimed=lambda: _index_outputs(_Gi[_wo, _i, _j]))),
    ),
)
