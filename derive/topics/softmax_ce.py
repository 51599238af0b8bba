"""Softmax cross-entropy (LECTURE.md section 3): ``L = -sum_i y_i log softmax(z)_i``."""

from __future__ import annotations

import sympy as sp

from ..atoms import matrix, scalar, vector
from ..concrete import on_simplex, softmax, total
from ..indexcalc import index_diff
from ..notation import Diag, Partial, index, indexed, size
from ..spec import Claim, IndexForm, Topic, grad, grid, pair_claim
from ..types import Sizes, SymbolSpec


def build(sizes: Sizes) -> dict:
    n, batch = sizes["n"], sizes["N"]
    z, y = vector("z", n), vector("y", n)
    p = softmax(z)
    y1 = on_simplex(y)

    def loss(labels: sp.Matrix) -> sp.Expr:
        return -sp.Add(*[labels[i] * sp.log(p[i]) for i in range(n)])

    c = scalar("c")
    jacobian = sp.Matrix(n, n, lambda i, j: sp.diff(p[i], z[j]))
    Z, Y = matrix("Z", batch, n), matrix("Y", batch, n)
    Y1 = sp.Matrix.vstack(*[on_simplex(Y.row(s).T).T for s in range(batch)])
    P = sp.Matrix.vstack(*[softmax(Z.row(s).T).T for s in range(batch)])
    batch_loss = -sp.Add(*[Y1[s, i] * sp.log(P[s, i]) for s in range(batch) for i in range(n)]) / batch
    return {
        "z": z, "y": y, "p": p, "y1": y1, "L": loss(y), "L1": loss(y1),
        "Z": Z, "P": P, "Y1": Y1, "L_batch": batch_loss, "forward": loss(y),
        "shift": (softmax(z + c * sp.ones(n, 1)), p),
        "jacobian_rows": (jacobian * sp.ones(n, 1), sp.zeros(n, 1)),
        "grad_total": (sp.Matrix([total(grad(loss(y), z))]), sp.zeros(1, 1)),
    }


_n = size("n")
_i, _j, _k = index("i"), index("j"), index("k")
_z, _y = indexed("z"), indexed("y")


def _p(a: sp.Symbol) -> sp.Expr:
    return sp.exp(_z[a]) / sp.Sum(sp.exp(_z[_k]), (_k, 1, _n))


def _loss_index() -> sp.Expr:
    return -sp.Sum(_y[_i] * sp.log(_p(_i)), (_i, 1, _n))


def _sum_y_is_one(residual: sp.Expr) -> sp.Expr:
    from ..indexcalc import canonical_sums

    return residual.xreplace({canonical_sums(sp.Sum(_y[_i], (_i, 1, _n))): sp.S.One})


_c = sp.Symbol("c", real=True)


def _jacobian(i: sp.Symbol, j: sp.Symbol) -> sp.Expr:
    """Entry (i, j) of the softmax Jacobian as the claim softmax_jacobian proves it."""
    return _p(i) * sp.KroneckerDelta(i, j) - _p(i) * _p(j)


# The batch: N rows of logits Z_s and labels Y_s, L the mean of the per-row losses.
_N, _l = size("N"), index("l")
_row, _s = index("r"), index("s")
_Z, _Y = sp.IndexedBase("Z", real=True), sp.IndexedBase("Y", real=True)


def _batch_p(row: sp.Expr, col: sp.Expr) -> sp.Expr:
    return sp.exp(_Z[row, col]) / sp.Sum(sp.exp(_Z[row, _k]), (_k, 1, _n))


def _batch_loss() -> sp.Expr:
    return -sp.Sum(sp.Sum(_Y[_s, _i] * sp.log(_batch_p(_s, _i)), (_i, 1, _n)), (_s, 1, _N)) / _N


def _rows_of_y_sum_to_one(residual: sp.Expr) -> sp.Expr:
    from ..indexcalc import canonical_sums

    return residual.xreplace({canonical_sums(sp.Sum(_Y[_row, _i], (_i, 1, _n))): sp.S.One})


def _vec(name: str) -> sp.MatrixSymbol:
    return sp.MatrixSymbol(name, _n, 1)


TOPIC = Topic(
    name="softmax_ce",
    title="Softmax cross-entropy",
    section="3. Convolutional networks (training: softmax output, cross-entropy loss)",
    symbols=(
        SymbolSpec("z", ("n",), "real", "logits, the scores before softmax"),
        SymbolSpec("y", ("n",), "simplex (one-hot for a label)", "target distribution"),
        SymbolSpec("p", ("n",), "simplex", "p = softmax(z), p_i = e^{z_i} / sum_j e^{z_j}"),
        SymbolSpec("L", (), "real", "L = -sum_i y_i log p_i"),
        SymbolSpec("Z, Y, P", ("N", "n"), "rows as z, y, p", "a batch of N samples, one per row"),
    ),
    assumptions=(
        "sum_i y_i = 1 (y is a distribution; a one-hot label is one): used where stated, "
        "by substituting y_n = 1 - (y_1 + ... + y_{n-1})",
    ),
    default_sizes={"n": 3, "N": 2},
    grid=grid(n=range(1, 6), N=[1]),
    build=build,
    claims=(
        Claim(
            key="softmax_jacobian",
            statement="dp_i/dz_j = p_i (delta_ij - p_j)",
            reason="quotient rule on e^{z_i} / sum_k e^{z_k}; every entry differentiated exactly",
            display=lambda: sp.Eq(Partial("p", "z"), Diag(_vec("p")) - _vec("p") * _vec("p").T, evaluate=False),
            derived=lambda e: sp.Matrix(len(e["p"]), len(e["z"]), lambda i, j: sp.diff(e["p"][i], e["z"][j])),
            claimed=lambda e: sp.diag(*e["p"]) - e["p"] * e["p"].T,
            index=IndexForm(
                derived=lambda: index_diff(_p(_i), _z[_j]),
                claimed=lambda: _p(_i) * sp.KroneckerDelta(_i, _j) - _p(_i) * _p(_j),
            ),
        ),
        Claim(
            key="grad_z_general",
            target="dL/dz (general)",
            wrt="z",
            statement="dL/dz_j = p_j sum_i y_i - y_j (no assumption on y)",
            reason="chain rule through log and the softmax Jacobian; SymPy cannot know sum(y) = 1, "
            "so the general form keeps sum_i y_i",
            display=lambda: sp.Eq(
                Partial("L", "z_j"), indexed("p")[_j] * sp.Sum(_y[_i], (_i, 1, _n)) - _y[_j],
                evaluate=False,
            ),
            derived=lambda e: grad(e["L"], e["z"]),
            claimed=lambda e: e["p"] * total(e["y"]) - e["y"],
            index=IndexForm(
                derived=lambda: index_diff(_loss_index(), _z[_j]),
                claimed=lambda: _p(_j) * sp.Sum(_y[_i], (_i, 1, _n)) - _y[_j],
            ),
        ),
        Claim(
            key="grad_z",
            target="dL/dz",
            wrt="z",
            statement="dL/dz = p - y, when sum_i y_i = 1",
            reason="the general form with the assumption sum_i y_i = 1 substituted "
            "(y_n = 1 - the other entries); at symbolic n, Sum(y) is replaced by 1",
            display=lambda: sp.Eq(Partial("L", "z"), _vec("p") - _vec("y"), evaluate=False),
            derived=lambda e: grad(e["L1"], e["z"]),
            claimed=lambda e: e["p"] - e["y1"],
            index=IndexForm(
                derived=lambda: index_diff(_loss_index(), _z[_j]),
                claimed=lambda: _p(_j) - _y[_j],
                assume=_sum_y_is_one,
            ),
        ),
        Claim(
            key="grad_Z_batch",
            target="dL/dZ (batch mean)",
            wrt="Z",
            statement="for L = -(1/N) sum_s sum_i Y_si log P_si: dL/dZ = (P - Y) / N",
            reason="the loss is a mean of per-sample losses, each depends on its own row only; "
            "every row of Y sums to 1 (substituted); at symbolic n and N, dL/dZ_rj in index form",
            display=lambda: sp.Eq(
                Partial("L", "Z"),
                (sp.MatrixSymbol("P", size("N"), _n) - sp.MatrixSymbol("Y", size("N"), _n)) / size("N"),
                evaluate=False,
            ),
            derived=lambda e: grad(e["L_batch"], e["Z"]),
            claimed=lambda e: (e["P"] - e["Y1"]) / e["Z"].rows,
            sizes=grid(n=range(1, 4), N=range(1, 4)),
            index=IndexForm(
                derived=lambda: index_diff(_batch_loss(), _Z[_row, _j]),
                claimed=lambda: (_batch_p(_row, _j) - _Y[_row, _j]) / _N,
                assume=_rows_of_y_sum_to_one,
            ),
        ),
        Claim(
            key="hessian",
            target="d2L/dz2",
            wrt="z",
            statement="d2L/dz dz^T = diag(p) - p p^T, when sum_i y_i = 1",
            reason="differentiate p - y once more: the softmax Jacobian; in general it is "
            "(sum_i y_i)(diag(p) - p p^T); at symbolic n, d2L/dz_j dz_l in index form with sum_i y_i = 1 substituted",
            display=lambda: sp.Eq(Partial("L", "z", 2), Diag(_vec("p")) - _vec("p") * _vec("p").T, evaluate=False),
            derived=lambda e: sp.hessian(e["L1"], list(e["z"])),
            claimed=lambda e: sp.diag(*e["p"]) - e["p"] * e["p"].T,
            sizes=grid(n=range(1, 5), N=[1]),
            index=IndexForm(
                derived=lambda: index_diff(index_diff(_loss_index(), _z[_j]), _z[_l]),
                claimed=lambda: _p(_j) * sp.KroneckerDelta(_j, _l) - _p(_j) * _p(_l),
                assume=_sum_y_is_one,
            ),
        ),
        # The lecture's facts about softmax besides its gradient (issue 19).
        pair_claim(
            "shift",
            key="shift_invariance",
            statement="softmax(z + c 1) = softmax(z) for every constant c: adding c to every logit changes nothing",
            reason="e^{z_i + c} = e^{z_i} e^c, and e^c cancels between numerator and denominator",
            display=lambda: sp.Eq(sp.Function("softmax")(_vec("z") + _c * sp.MatrixSymbol("1", _n, 1)),
                                  sp.Function("softmax")(_vec("z")), evaluate=False),
            index=IndexForm(
                derived=lambda: sp.exp(_z[_i] + _c) / sp.Sum(sp.exp(_z[_k] + _c), (_k, 1, _n)),
                claimed=lambda: _p(_i),
            ),
        ),
        pair_claim(
            "jacobian_rows",
            key="jacobian_rows_sum_zero",
            statement="every row of the softmax Jacobian sums to 0: sum_j dp_i/dz_j = 0",
            reason="sum_j dp_i/dz_j is the derivative of p_i(z + c 1) in c, which is 0 by shift invariance; "
            "at symbolic n, sum_j p_i (delta_ij - p_j) = p_i - p_i sum_j p_j = 0 from the proved Jacobian",
            display=lambda: sp.Eq(sp.Sum(Partial("p_i", "z_j"), (_j, 1, _n)), 0, evaluate=False),
            index=IndexForm(derived=lambda: sp.Sum(_jacobian(_i, _j), (_j, 1, _n)), claimed=lambda: sp.S.Zero),
        ),
        pair_claim(
            "grad_total",
            key="grad_sums_to_zero",
            statement="the entries of dL/dz sum to 0: sum_j dL/dz_j = 0 (with sum_i y_i = 1 it is "
            "sum_j (p_j - y_j) = 1 - 1; in fact for every y)",
            reason="L(z + c 1) = L(z) by shift invariance, so the gradient is orthogonal to 1; at symbolic n, "
            "summing the proved general form p_j sum_i y_i - y_j over j, with sum_j p_j = 1",
            display=lambda: sp.Eq(sp.Sum(Partial("L", "z_j"), (_j, 1, _n)), 0, evaluate=False),
            index=IndexForm(
                derived=lambda: sp.Sum(_p(_j) * sp.Sum(_y[_i], (_i, 1, _n)) - _y[_j], (_j, 1, _n)),
                claimed=lambda: sp.S.Zero,
            ),
        ),
    ),
)
