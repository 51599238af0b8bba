"""Layer normalisation, per row (LECTURE.md section 5, Add & Norm).

``mu_i = mean_j X_ij``, ``sigma_i = sqrt(var_i + eps)``, ``Xhat = (X - mu) / sigma``,
``Y = Xhat * gamma + beta`` (gamma, beta broadcast over rows), ``L = sum(G * Y)``.
``sigma`` is kept as an opaque square root (derive.atoms.Sqrt), so every identity below is
a rational identity in X and sigma.
"""

from __future__ import annotations

import sympy as sp

from ..atoms import Sqrt, matrix, scalar, vector
from ..concrete import hadamard, total
from ..indexcalc import index_diff
from ..notation import Diag, Partial, RowSum, size
from ..spec import Claim, IndexForm, Lazy, Topic, grad, grid, pair_claim
from ..types import Sizes, SymbolSpec


def build(sizes: Sizes) -> dict:
    n, d = sizes["n"], sizes["d"]
    X, G = matrix("X", n, d), matrix("G", n, d)
    gamma, beta = vector("gamma", d), vector("beta", d)
    eps = scalar("epsilon", positive=True)
    mu = [total(X.row(i)) / d for i in range(n)]
    var = [sp.Add(*[(X[i, j] - mu[i]) ** 2 for j in range(d)]) / d for i in range(n)]
    sigma = [Sqrt(var[i] + eps) for i in range(n)]
    Xhat = sp.Matrix(n, d, lambda i, j: (X[i, j] - mu[i]) / sigma[i])
    Y = sp.Matrix(n, d, lambda i, j: Xhat[i, j] * gamma[j] + beta[j])
    L = total(hadamard(G, Y))
    Ghat = sp.Matrix(n, d, lambda i, j: G[i, j] * gamma[j])
    mean_g = [total(Ghat.row(i)) / d for i in range(n)]
    mean_gx = [total(hadamard(Ghat.row(i), Xhat.row(i))) / d for i in range(n)]
    dX = sp.Matrix(n, d, lambda i, j: (Ghat[i, j] - mean_g[i] - Xhat[i, j] * mean_gx[i]) / sigma[i])
    grad_X = grad(L, X)
    return {
        "X": X, "G": G, "gamma": gamma, "beta": beta, "L": L, "forward": L, "Xhat": Xhat,
        # The theorems (issue 19): invariance of the normalised rows, orthogonality of the gradient.
        "shift": Lazy(lambda: (_normalised(X + scalar("c") * sp.ones(n, d), eps), _normalised(X, eps))),
        "scale": Lazy(lambda: (_normalised(scalar("a", positive=True) * X + scalar("c") * sp.ones(n, d), eps,
                                           scalar("a", positive=True)),
                               _normalised(X, eps / scalar("a", positive=True) ** 2))),
        "mean_transform": Lazy(lambda: _moments(X, d)[0]),
        "variance_transform": Lazy(lambda: _moments(X, d)[1]),
        "grad_ones": Lazy(lambda: (grad_X * sp.ones(d, 1), sp.zeros(n, 1))),
        "grad_xhat": Lazy(lambda: (
            _sqrt_squares(sp.Matrix([total(hadamard(grad_X.doit().row(i), Xhat.row(i))) for i in range(n)])),
            sp.Matrix([eps / sigma[i].args[0] * total(hadamard(Ghat.row(i), Xhat.row(i))) / sigma[i] for i in range(n)]),
        )),
        "row_means_of_Xhat": sp.Matrix([total(Xhat.row(i)) / d for i in range(n)]),
        "dX": Lazy(lambda: (grad(L, X), dX)),
        "dgamma": Lazy(lambda: (grad(L, gamma), sp.Matrix([total(hadamard(G.col(j), Xhat.col(j))) for j in range(d)]))),
        "dbeta": Lazy(lambda: (grad(L, beta), sp.Matrix([total(G.col(j)) for j in range(d)]))),
    }


def _normalised(X: sp.Matrix, eps: sp.Expr, scale: sp.Expr = sp.S.One) -> sp.Matrix:
    """``(X_ij - mu_i) / sqrt(var_i + eps)`` with each variance expanded as a polynomial, so that equal
    variances give the same square root; with ``scale = a > 0`` the root is written
    ``a sqrt((var + eps) / a^2)`` (the rule sqrt(a^2 w) = a sqrt(w) for a > 0)."""
    d = X.cols
    rows = []
    for i in range(X.rows):
        mu = total(X.row(i)) / d
        var = sp.expand(sp.Add(*[(x - mu) ** 2 for x in X.row(i)]) / d)
        sigma = scale * Sqrt(sp.expand((var + eps) / scale**2))
        rows.append(X.row(i).applyfunc(lambda x, mu=mu, sigma=sigma: (x - mu) / sigma))
    return sp.Matrix.vstack(*rows)


def _moments(X: sp.Matrix, d: int) -> tuple[tuple[sp.Matrix, sp.Matrix], tuple[sp.Matrix, sp.Matrix]]:
    """Each row's mean and variance of a X + c 1^T against a mu + c and a^2 var."""
    a, c = scalar("a", positive=True), scalar("c")

    def mean(row: sp.Matrix) -> sp.Expr:
        return total(row) / d

    def var(row: sp.Matrix) -> sp.Expr:
        return sp.Add(*[(x - mean(row)) ** 2 for x in row]) / d

    moved = [a * X.row(i) + c * sp.ones(1, d) for i in range(X.rows)]
    rows = [X.row(i) for i in range(X.rows)]
    return ((sp.Matrix([mean(r) for r in moved]), sp.Matrix([a * mean(r) + c for r in rows])),
            (sp.Matrix([var(r) for r in moved]), sp.Matrix([a**2 * var(r) for r in rows])))


def _sqrt_squares(m: sp.Matrix) -> sp.Matrix:
    """Every ``Sqrt(u)^k`` with ``|k| >= 2`` rewritten with ``Sqrt(u)^2 = u`` (the one fact about the
    square root the zero test does not know; ``u > 0`` here, as it holds epsilon > 0)."""

    def split(power: sp.Pow) -> sp.Expr:
        k = int(power.exp)
        whole, odd = divmod(abs(k), 2)
        sign = 1 if k > 0 else -1
        return (power.base.args[0] ** whole * power.base**odd) ** sign

    def is_square(e: sp.Basic) -> bool:
        return e.is_Pow and isinstance(e.base, Sqrt) and e.exp.is_Integer and abs(int(e.exp)) >= 2

    return m.applyfunc(lambda entry: entry.replace(is_square, split))


_n, _d = size("n"), size("d")
_G, _Xhat, _Ghat = (sp.MatrixSymbol(name, _n, _d) for name in ("G", "Xhat", "Ghat"))
_ones = sp.MatrixSymbol("1", _n, 1)
_sigma = sp.MatrixSymbol("sigma", _n, 1)
_GRID = grid(n=range(1, 4), d=range(1, 6))
# Rows are normalised independently: the theorems are stated for one row, at every width up to 5.
_ROW_GRID = grid(n=[1], d=range(1, 6))


# One row at symbolic width d (rows are independent): x, g = Ghat's row, the same sigma.
_i, _j, _k = (sp.Symbol(name, integer=True) for name in ("i", "j", "k"))
_x, _g = sp.IndexedBase("x", real=True), sp.IndexedBase("ghat", real=True)
_k2 = sp.Symbol("l", integer=True)
_eps = sp.Symbol("epsilon", positive=True)
_mu = sp.Sum(_x[_k], (_k, 1, _d)) / _d
_row_sigma = Sqrt(sp.Sum((_x[_i] - _mu) ** 2, (_i, 1, _d)) / _d + _eps)


def _xhat(a: sp.Symbol) -> sp.Expr:
    return (_x[a] - _mu) / _row_sigma


_a, _c = sp.Symbol("a", positive=True), sp.Symbol("c", real=True)
_var = sp.Sum((_x[_i] - _mu) ** 2, (_i, 1, _d)) / _d


def _moved(a: sp.Symbol) -> sp.Expr:
    return _a * _x[a] + _c


_mu_moved = sp.Sum(_moved(_k), (_k, 1, _d)) / _d


def _normalised_moved(scale: sp.Expr, eps: sp.Expr) -> sp.Expr:
    """Entry j of the normalised row a x + c, its root rewritten by variance_transform and the sqrt rule."""
    return (_moved(_j) - _mu_moved) / (scale * Sqrt(_var + eps))


_s = sp.Symbol("sigma", positive=True)


def _in_sigma(expr: sp.Expr) -> sp.Expr:
    """``expr`` with the row's sigma = sqrt(var + epsilon) written as a positive symbol and epsilon as
    sigma^2 - var: a change of variables (each epsilon > 0 has its sigma > 0), after which an identity
    that rests on sigma^2 = var + epsilon is a rational identity in x, ghat and sigma.

    >>> _in_sigma(_row_sigma**2 - _var - _eps)
    0
    """
    out = expr.xreplace({_row_sigma: _s}).xreplace({_eps: _s**2 - _var})
    if out.atoms(Sqrt):  # another root than the row's sigma: the change of variables would not cover it
        raise ValueError(f"a square root other than the row's sigma in {out}")
    return out


_ROW_INDEX = IndexForm(
    derived=lambda: index_diff(sp.Sum(_g[_i] * _xhat(_i), (_i, 1, _d)), _x[_j]),
    claimed=lambda: (
        _g[_j] - sp.Sum(_g[_i], (_i, 1, _d)) / _d - _xhat(_j) * sp.Sum(_g[_i] * _xhat(_i), (_i, 1, _d)) / _d
    ) / _row_sigma,
)


def _claim(key: str, target: str, wrt: str, statement: str, reason: str, form, index: IndexForm | None = None) -> Claim:
    return pair_claim(
        key, key=f"grad_{wrt}", target=target, wrt=wrt, statement=statement, reason=reason,
        form=form, sizes=_GRID, index=index,
    )


TOPIC = Topic(
    name="layernorm",
    title="Layer normalisation (per row, with gamma and beta)",
    section="5. Transformer (Add & Norm)",
    symbols=(
        SymbolSpec("X", ("n", "d"), "real", "input, one row per position"),
        SymbolSpec("gamma, beta", ("d",), "real", "scale and shift, shared by all rows"),
        SymbolSpec("epsilon", (), "positive", "added to the variance"),
        SymbolSpec("mu, sigma", ("n",), "real, positive", "row mean; sigma_i = sqrt(var_i + epsilon)"),
        SymbolSpec("Xhat", ("n", "d"), "real", "normalised rows (X - mu) / sigma"),
        SymbolSpec("G", ("n", "d"), "real", "upstream gradient dL/dY; L = sum(G * Y)"),
        SymbolSpec("Ghat", ("n", "d"), "real", "G * gamma (gamma broadcast over rows)"),
    ),
    assumptions=("the variance is the biased one (divide by d), as torch.nn.functional.layer_norm",),
    default_sizes={"n": 2, "d": 3},
    grid=_GRID,
    size_limits={"n": (1, 3), "d": (1, 6)},
    build=build,
    claims=(
        Claim(
            key="rows_centred",
            statement="each row of Xhat has mean 0",
            reason="sum_j (X_ij - mu_i) = 0 by the definition of mu_i; at symbolic d, (1/d) sum_j (x_j - mu) / sigma "
            "for one row (rows are independent)",
            display=lambda: sp.Eq(RowSum(_Xhat) / _d, sp.ZeroMatrix(_n, _d), evaluate=False),
            derived=lambda e: e["row_means_of_Xhat"],
            claimed=lambda e: sp.zeros(e["X"].rows, 1),
            sizes=_GRID,
            index=IndexForm(derived=lambda: sp.Sum(_xhat(_j), (_j, 1, _d)) / _d, claimed=lambda: sp.S.Zero),
        ),
        _claim("dbeta", "dbeta", "beta", "dL/dbeta = sum over rows of G", "Y is beta plus terms free of beta",
               lambda: _G.T * _ones),
        _claim("dgamma", "dgamma", "gamma", "dL/dgamma = sum over rows of G * Xhat", "Y_ij = Xhat_ij gamma_j + beta_j",
               lambda: sp.HadamardProduct(_G, _Xhat).T * _ones),
        _claim(
            "dX", "dX", "X",
            "dL/dX_i = (Ghat_i - mean(Ghat_i) - Xhat_i mean(Ghat_i * Xhat_i)) / sigma_i for each row i",
            "X_ij reaches L directly, through mu_i (derivative 1/d) and through sigma_i "
            "(derivative (X_ij - mu_i) / (d sigma_i)); the rows are independent, so the index form "
            "is one row at symbolic width d",
            lambda: sp.Inverse(Diag(_sigma)) * (
                _Ghat - RowSum(_Ghat) / _d - sp.HadamardProduct(_Xhat, RowSum(sp.HadamardProduct(_Ghat, _Xhat)) / _d)
            ),
            _ROW_INDEX,
        ),
        # The lecture's facts about layer norm besides its gradient (issue 19), one row at a time.
        pair_claim(
            "mean_transform", key="mean_transform",
            statement="mu(a X + c 1^T) = a mu(X) + c for each row",
            reason="the mean is linear, and the mean of the constant c is c",
            display=lambda: sp.Eq(sp.Symbol("mu(a x + c)"), _a * sp.Symbol("mu(x)") + _c, evaluate=False),
            sizes=_ROW_GRID,
            index=IndexForm(derived=lambda: _mu_moved, claimed=lambda: _a * _mu + _c),
        ),
        pair_claim(
            "variance_transform", key="variance_transform",
            statement="var(a X + c 1^T) = a^2 var(X) for each row",
            reason="a x_i + c - (a mu + c) = a (x_i - mu); square and average",
            display=lambda: sp.Eq(sp.Symbol("var(a x + c)"), _a**2 * sp.Symbol("var(x)"), evaluate=False),
            sizes=_ROW_GRID,
            index=IndexForm(derived=lambda: sp.Sum((_moved(_i) - _mu_moved) ** 2, (_i, 1, _d)) / _d,
                            claimed=lambda: _a**2 * _var),
        ),
        pair_claim(
            "shift", key="shift_invariance",
            statement="Xhat(X + c 1^T) = Xhat(X): shifting a row by a constant leaves its normalisation "
            "unchanged, for every epsilon",
            reason="the mean moves by c and the variance does not change (mean_transform and variance_transform "
            "with a = 1; entrywise, both expanded as polynomials in X)",
            display=lambda: sp.Eq(sp.Function("LN")(sp.Symbol("x") + sp.Symbol("c")), sp.Function("LN")(sp.Symbol("x")),
                                  evaluate=False),
            sizes=_ROW_GRID,
            index=IndexForm(derived=lambda: _normalised_moved(1, _eps).xreplace({_a: 1}),
                            claimed=lambda: (_x[_j] - _mu) / Sqrt(_var + _eps)),
        ),
        pair_claim(
            "scale", key="scale_invariance",
            statement="Xhat(a X + c 1^T; epsilon) = Xhat(X; epsilon / a^2) for a > 0: at epsilon = 0 a "
            "row's normalisation is exactly invariant to shift and positive scale; with epsilon > 0, scaling "
            "by a acts as epsilon -> epsilon / a^2, so the invariance is only approximate",
            reason="mean a mu + c (mean_transform), variance a^2 var (variance_transform), and "
            "sqrt(a^2 var + epsilon) = a sqrt(var + epsilon / a^2) for a > 0; the rest is a rational identity",
            display=lambda: sp.Eq(sp.Function("LN_epsilon")(sp.Symbol("a") * sp.Symbol("x") + sp.Symbol("c")),
                                  sp.Function("LN_epsilon/a^2")(sp.Symbol("x")), evaluate=False),
            sizes=_ROW_GRID,
            index=IndexForm(derived=lambda: _normalised_moved(_a, _eps / _a**2),
                            claimed=lambda: (_x[_j] - _mu) / Sqrt(_var + _eps / _a**2)),
        ),
        pair_claim(
            "grad_ones", key="grad_orthogonal_ones",
            statement="sum_j dL/dX_ij = 0: each row of the gradient is orthogonal to 1 (for every gamma and "
            "epsilon; with gamma = 1, Ghat = G)",
            reason="the row of Xhat is unchanged when X_i shifts (the claim above), so the derivative along 1 is 0; "
            "at symbolic d, summing the proved row form over j (sum_j Xhat_ij = 0)",
            display=lambda: sp.Eq(sp.Sum(Partial("L", "X_ij"), (_j, 1, _d)), 0, evaluate=False),
            sizes=_ROW_GRID,
            index=IndexForm(derived=lambda: sp.Sum(_ROW_INDEX.claimed().xreplace({_j: _k2}), (_k2, 1, _d)),
                            claimed=lambda: sp.S.Zero),
        ),
        pair_claim(
            "grad_xhat", key="grad_orthogonal_xhat",
            statement="sum_j dL/dX_ij Xhat_ij = (epsilon / sigma_i^2) sum_j Ghat_ij Xhat_ij / sigma_i: at "
            "epsilon = 0 each row of the gradient is orthogonal to Xhat_i; with epsilon > 0 only nearly "
            "(epsilon << var_i)",
            reason="sum_j Xhat_ij = 0 and sum_j Xhat_ij^2 = d var_i / sigma_i^2 = d (1 - epsilon / sigma_i^2), "
            "using sigma_i^2 = var_i + epsilon (sqrt(u)^2 = u, applied to the derived side); at symbolic d, "
            "the proved row form times Xhat summed, with epsilon written sigma^2 - var (each epsilon > 0 is that, "
            "for sigma = sqrt(var + epsilon) > 0), so that both sides are rational in x, Ghat and sigma",
            display=lambda: sp.Eq(sp.Sum(Partial("L", "X_ij") * sp.Symbol("Xhat_ij"), (_j, 1, _d)),
                                  _eps / sp.Symbol("sigma_i") ** 3 * sp.Sum(sp.Symbol("Ghat_ij") * sp.Symbol("Xhat_ij"),
                                                                          (_j, 1, _d)), evaluate=False),
            sizes=_ROW_GRID,
            index=IndexForm(
                derived=lambda: _in_sigma(sp.Sum(_ROW_INDEX.claimed().xreplace({_j: _k2}) * _xhat(_k2), (_k2, 1, _d))),
                claimed=lambda: _in_sigma(_eps / _row_sigma**3 * sp.Sum(_g[_k2] * _xhat(_k2), (_k2, 1, _d))),
            ),
        ),
    ),
)
