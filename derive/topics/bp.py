"""The back-propagation network (LECTURE.md section 2): deltas and update rules.

Three layers: inputs ``I_i``, hidden ``H_j = sigma(net_j)``, outputs ``O_k = sigma(net_k)`` (or
``O_k = net_k`` for a linear output), ``E = 1/2 sum_k (T_k - O_k)^2``. The lecture's delta is
*minus* the gradient of E with respect to a pre-activation, so its updates add.
In entry names, ``wh_ji`` is the lecture's ``w_ji`` (input i -> hidden j) and ``wo_kj`` its
``w_kj`` (hidden j -> output k); ``bh`` and ``bo`` the biases ``b_j`` and ``b_k``.
"""

from __future__ import annotations

from collections.abc import Callable

import sympy as sp

from ..atoms import matrix, scalar, sigmoid, vector
from ..concrete import hadamard
from ..indexcalc import collapse_in_ranges, index_diff
from ..notation import index, indexed, size
from ..spec import Claim, IndexForm, Lazy, Topic, grad, grid
from ..types import Sizes, SymbolSpec

Activation = Callable[[sp.Expr], sp.Expr]


def _identity(x: sp.Expr) -> sp.Expr:
    return x


# An arbitrary differentiable activation, for the general recursion: SymPy knows only f' = f'.
_f = sp.Function("f")
_u = sp.Dummy("u")


def _f_prime(x: sp.Expr) -> sp.Expr:
    return sp.diff(_f(_u), _u).subs(_u, x)


def _error(T: sp.Matrix, O: sp.Matrix) -> sp.Expr:
    return sp.Rational(1, 2) * sp.Add(*[(t - o) ** 2 for t, o in zip(T, O)])


def _sig_prime(a: sp.Matrix) -> sp.Matrix:
    """O (1 - O) for an activation column O = sigma(net): the lecture writes sigma' that way."""
    return a.applyfunc(lambda v: v * (1 - v))


def build(sizes: Sizes) -> dict:
    n_in, n_hid, n_out, n_hid2 = sizes["I"], sizes["H"], sizes["O"], sizes["H2"]
    I, T = vector("I", n_in), vector("T", n_out)
    Wh, bh = matrix("wh", n_hid, n_in), vector("bh", n_hid)
    Wo, bo = matrix("wo", n_out, n_hid), vector("bo", n_out)
    alpha, beta = scalar("alpha", positive=True), scalar("beta", positive=True)
    env: dict = {"I": I, "T": T, "Wh": Wh, "bh": bh, "Wo": Wo, "bo": bo, "alpha": alpha, "beta": beta}

    # Output layer alone, its pre-activations free: the output deltas.
    net_out = vector("netk", n_out)
    for kind, f in (("sigmoid", sigmoid), ("linear", _identity)):
        O = net_out.applyfunc(f)
        env[f"delta_k_{kind}_derived"] = Lazy(lambda O=O: -grad(_error(T, O), net_out))
        env[f"delta_k_{kind}_claimed"] = hadamard(T - O, _sig_prime(O)) if kind == "sigmoid" else T - O
        env[f"O_{kind}_of_net_k"] = O

    # From the hidden pre-activations up: the hidden delta.
    net_hid = vector("netj", n_hid)
    H = net_hid.applyfunc(sigmoid)
    for kind, f in (("sigmoid", sigmoid), ("linear", _identity)):
        O = (Wo * H + bo).applyfunc(f)
        delta_k = hadamard(T - O, _sig_prime(O)) if kind == "sigmoid" else T - O
        env[f"delta_j_{kind}_derived"] = Lazy(lambda O=O: -grad(_error(T, O), net_hid))
        env[f"delta_j_{kind}_claimed"] = hadamard(_sig_prime(H), Wo.T * delta_k)

    # The whole network from the inputs, any activation f: the four update rules. With the
    # sigmoid, f'(net) = f(net) (1 - f(net)) turns these deltas into the lecture's (proved above).
    net_j = Wh * I + bh
    H = net_j.applyfunc(_f)
    net_k = Wo * H + bo
    O = net_k.applyfunc(_f)
    E = _error(T, O)
    delta_k = hadamard(T - O, net_k.applyfunc(_f_prime))
    delta_j = hadamard(net_j.applyfunc(_f_prime), Wo.T * delta_k)
    env.update(E=E, H=H, O=O, delta_k=delta_k, delta_j=delta_j)
    env["forward"] = _error(T, (Wo * (Wh * I + bh).applyfunc(sigmoid) + bo).applyfunc(sigmoid))

    # Two hidden layers and any activation f: delta^(l) = f'(net^(l)) * W^(l+1)^T delta^(l+1).
    net1 = vector("net1", n_hid)
    W2, W3 = matrix("wa", n_hid2, n_hid), matrix("wb", n_out, n_hid2)
    net2 = W2 * net1.applyfunc(_f)
    net3 = W3 * net2.applyfunc(_f)
    O3 = net3.applyfunc(_f)
    delta3 = hadamard(T - O3, net3.applyfunc(_f_prime))
    delta2 = hadamard(net2.applyfunc(_f_prime), W3.T * delta3)
    env["deep_derived"] = Lazy(lambda: -grad(_error(T, O3), net1))
    env["deep_claimed"] = hadamard(net1.applyfunc(_f_prime), W2.T * delta2)
    return env


_nO, _nH = size("n_O"), size("n_H")
_j, _k, _m = index("j"), index("k"), index("m")
_T, _net, _w, _b = indexed("T"), indexed("net"), indexed("w"), indexed("b")


def _sig(x: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-x))


def _out_error(O: Callable[[sp.Symbol], sp.Expr]) -> sp.Expr:
    return sp.Rational(1, 2) * sp.Sum((_T[_k] - O(_k)) ** 2, (_k, 1, _nO))


def _O_of_hidden(k: sp.Symbol) -> sp.Expr:
    return _sig(sp.Sum(_w[k, _j] * _sig(_net[_j]), (_j, 1, _nH)) + _b[k])


def _linear_O_of_hidden(k: sp.Symbol) -> sp.Expr:
    return sp.Sum(_w[k, _j] * _sig(_net[_j]), (_j, 1, _nH)) + _b[k]


def _delta_k_of_hidden(k: sp.Symbol) -> sp.Expr:
    O = _O_of_hidden(k)
    return (_T[k] - O) * O * (1 - O)


_O, _H, _delta = indexed("O"), indexed("H"), indexed("delta")
_I = indexed("I")
_alpha, _beta = sp.symbols("alpha beta", positive=True)
_i = index("i")
_nI = size("n_I")


# The whole network in index form at symbolic widths, any activation f: net_j = sum_i wh_ji I_i + bh_j,
# H_j = f(net_j), net_k = sum_j wo_kj H_j + bo_k, O_k = f(net_k), E = 1/2 sum_k (T_k - O_k)^2. A weight's own
# indices (K, J, II) run over their stated ranges, which lets a Kronecker delta inside a sum collapse.
_wh, _bh, _wo, _bo = (indexed(name) for name in ("wh", "bh", "wo", "bo"))
_K, _J, _II = (sp.Symbol(name, integer=True, positive=True) for name in ("K", "J", "II"))
_f_named = sp.Function("f'")


def _net_hidden(j: sp.Expr) -> sp.Expr:
    return sp.Sum(_wh[j, _i] * _I[_i], (_i, 1, _nI)) + _bh[j]


def _net_output(k: sp.Expr) -> sp.Expr:
    return sp.Sum(_wo[k, _j] * _f(_net_hidden(_j)), (_j, 1, _nH)) + _bo[k]


def _delta_output(k: sp.Expr) -> sp.Expr:
    return (_T[k] - _f(_net_output(k))) * _f_prime(_net_output(k))


def _delta_hidden(j: sp.Expr) -> sp.Expr:
    return _f_prime(_net_hidden(j)) * sp.Sum(_wo[_k, j] * _delta_output(_k), (_k, 1, _nO))


def _with_f_prime_named(expr: sp.Expr) -> sp.Expr:
    """Every f' SymPy writes (Subs of a Derivative, or a Derivative at an entry) as one function f'(x), so the
    two spellings of the same derivative compare equal."""
    expr = expr.replace(lambda e: isinstance(e, sp.Subs) and isinstance(e.expr, sp.Derivative) and len(e.variables) == 1
                        and e.expr.variable_count == ((e.variables[0], 1),) and e.expr.expr == _f(e.variables[0]),
                        lambda e: _f_named(e.point[0]))  # the first derivative only: f'' keeps its own spelling
    return expr.replace(lambda e: isinstance(e, sp.Derivative) and len(e.variables) == 1
                        and e.expr == _f(e.variables[0]), lambda e: _f_named(e.variables[0]))


def _step_index(weight: sp.Indexed, rate: sp.Symbol, change: sp.Expr) -> IndexForm:
    """weight - rate dE/dweight against weight + rate change, in index form."""
    error = sp.Rational(1, 2) * sp.Sum((_T[_k] - _f(_net_output(_k))) ** 2, (_k, 1, _nO))
    ranges = {_K: (1, _nO), _J: (1, _nH), _II: (1, _nI)}
    return IndexForm(
        derived=lambda: _with_f_prime_named(weight - rate * collapse_in_ranges(index_diff(error, weight), ranges)),
        claimed=lambda: _with_f_prime_named(weight + rate * change),
    )


def _update(key: str, target: str, statement: str, lhs: str, rhs: sp.Expr, wrt: str,
            derived: Callable[[dict], sp.Matrix], claimed: Callable[[dict], sp.Matrix], reason: str,
            index: IndexForm) -> Claim:
    return Claim(
        key=key, target=target, wrt=wrt, statement=statement,
        reason=reason + "; proved for any differentiable activation f (an undefined SymPy function) "
        "with delta = -dE/dnet, so it holds with the sigmoid deltas of the steps above; at symbolic widths in "
        "index form",
        display=lambda: sp.Eq(sp.Symbol(lhs), rhs, evaluate=False),
        derived=derived, claimed=claimed,
        sizes=grid(I=range(1, 4), H=range(1, 4), O=range(1, 4), H2=[1]),
        index=index,
    )


TOPIC = Topic(
    name="bp",
    title="Back-propagation: deltas and update rules",
    section="2. Back-propagation network",
    symbols=(
        SymbolSpec("I", ("n_I",), "real", "inputs I_i"),
        SymbolSpec("H", ("n_H",), "(0, 1)", "hidden outputs H_j = sigma(net_j), net_j = sum_i w_ji I_i + b_j"),
        SymbolSpec("O", ("n_O",), "(0, 1) or real", "outputs O_k = sigma(net_k) (or net_k), net_k = sum_j w_kj H_j + b_k"),
        SymbolSpec("T", ("n_O",), "real", "targets T_k"),
        SymbolSpec("w_ji, w_kj", ("n_H, n_I", "n_O, n_H"), "real", "weights (entries wh_ji and wo_kj)"),
        SymbolSpec("b_j, b_k", ("n_H", "n_O"), "real", "biases (entries bh_j and bo_k)"),
        SymbolSpec("E", (), ">= 0", "E = 1/2 sum_k (T_k - O_k)^2"),
        SymbolSpec("delta", ("n",), "real", "delta = -dE/d(net): minus the gradient at a pre-activation"),
        SymbolSpec("alpha, beta", (), "positive", "learning rates for weights and biases"),
    ),
    assumptions=("sigma(x) = 1 / (1 + e^{-x}), so sigma'(x) = sigma(x) (1 - sigma(x))",),
    default_sizes={"I": 2, "H": 2, "O": 2, "H2": 2},
    grid=grid(I=[1], H=range(1, 4), O=range(1, 4), H2=[1]),
    size_limits={"I": (1, 4), "H": (1, 4), "O": (1, 4), "H2": (1, 4)},
    build=build,
    claims=(
        Claim(
            key="delta_output_sigmoid",
            target="delta_k (sigmoid output)",
            wrt="net_k",
            statement="delta_k = -dE/dnet_k = (T_k - O_k) O_k (1 - O_k)",
            reason="dE/dO_k = -(T_k - O_k) and dO_k/dnet_k = O_k (1 - O_k)",
            display=lambda: sp.Eq(_delta[_k], (_T[_k] - _O[_k]) * _O[_k] * (1 - _O[_k]), evaluate=False),
            derived=lambda e: e["delta_k_sigmoid_derived"],
            claimed=lambda e: e["delta_k_sigmoid_claimed"],
            index=IndexForm(
                derived=lambda: -index_diff(_out_error(lambda k: _sig(_net[k])), _net[_m]),
                claimed=lambda: (_T[_m] - _sig(_net[_m])) * _sig(_net[_m]) * (1 - _sig(_net[_m])),
            ),
        ),
        Claim(
            key="delta_output_linear",
            target="delta_k (linear output)",
            wrt="net_k",
            statement="delta_k = -dE/dnet_k = T_k - O_k for a linear output O_k = net_k",
            reason="dO_k/dnet_k = 1",
            display=lambda: sp.Eq(_delta[_k], _T[_k] - _O[_k], evaluate=False),
            derived=lambda e: e["delta_k_linear_derived"],
            claimed=lambda e: e["delta_k_linear_claimed"],
            index=IndexForm(
                derived=lambda: -index_diff(_out_error(lambda k: _net[k]), _net[_m]),
                claimed=lambda: _T[_m] - _net[_m],
            ),
        ),
        Claim(
            key="delta_hidden",
            target="delta_j",
            wrt="net_j",
            statement="delta_j = -dE/dnet_j = H_j (1 - H_j) sum_k delta_k w_kj (sigmoid outputs)",
            reason="net_j reaches E through every net_k = sum_j w_kj H_j + b_k: sum over k of "
            "delta_k w_kj, times dH_j/dnet_j = H_j (1 - H_j)",
            display=lambda: sp.Eq(
                _delta[_j], _H[_j] * (1 - _H[_j]) * sp.Sum(_delta[_k] * _w[_k, _j], (_k, 1, _nO)), evaluate=False
            ),
            derived=lambda e: e["delta_j_sigmoid_derived"],
            claimed=lambda e: e["delta_j_sigmoid_claimed"],
            index=IndexForm(
                derived=lambda: -index_diff(_out_error(_O_of_hidden), _net[_m]),
                claimed=lambda: _sig(_net[_m]) * (1 - _sig(_net[_m]))
                * sp.Sum(_delta_k_of_hidden(_k) * _w[_k, _m], (_k, 1, _nO)),
            ),
        ),
        Claim(
            key="delta_hidden_linear",
            statement="the same hidden delta with linear outputs, delta_k = T_k - O_k",
            reason="only delta_k changes; the sum over k is the same; at symbolic widths in index form",
            display=lambda: sp.Eq(
                _delta[_j], _H[_j] * (1 - _H[_j]) * sp.Sum(_delta[_k] * _w[_k, _j], (_k, 1, _nO)), evaluate=False
            ),
            derived=lambda e: e["delta_j_linear_derived"],
            claimed=lambda e: e["delta_j_linear_claimed"],
            index=IndexForm(
                derived=lambda: -index_diff(_out_error(_linear_O_of_hidden), _net[_m]),
                claimed=lambda: _sig(_net[_m]) * (1 - _sig(_net[_m]))
                * sp.Sum((_T[_k] - _linear_O_of_hidden(_k)) * _w[_k, _m], (_k, 1, _nO)),
            ),
        ),
        _update(
            "update_w_output", "w_kj(t+1)", "w_kj - alpha dE/dw_kj = w_kj + alpha delta_k H_j",
            "w_kj(t+1)", _w[_k, _j] + _alpha * _delta[_k] * _H[_j], "w_kj",
            lambda e: e["Wo"] - e["alpha"] * grad(e["E"], e["Wo"]),
            lambda e: e["Wo"] + e["alpha"] * e["delta_k"] * e["H"].T,
            "dE/dw_kj = dE/dnet_k * dnet_k/dw_kj = -delta_k H_j; one gradient step with rate alpha",
            _step_index(_wo[_K, _J], _alpha, _delta_output(_K) * _f(_net_hidden(_J))),
        ),
        _update(
            "update_w_hidden", "w_ji(t+1)", "w_ji - alpha dE/dw_ji = w_ji + alpha delta_j I_i",
            "w_ji(t+1)", _w[_j, _i] + _alpha * _delta[_j] * _I[_i], "w_ji",
            lambda e: e["Wh"] - e["alpha"] * grad(e["E"], e["Wh"]),
            lambda e: e["Wh"] + e["alpha"] * e["delta_j"] * e["I"].T,
            "dE/dw_ji = -delta_j I_i",
            _step_index(_wh[_J, _II], _alpha, _delta_hidden(_J) * _I[_II]),
        ),
        _update(
            "update_b_output", "b_k(t+1)", "b_k - beta dE/db_k = b_k + beta delta_k",
            "b_k(t+1)", _b[_k] + _beta * _delta[_k], "b_k",
            lambda e: e["bo"] - e["beta"] * grad(e["E"], e["bo"]),
            lambda e: e["bo"] + e["beta"] * e["delta_k"],
            "dnet_k/db_k = 1, so dE/db_k = -delta_k",
            _step_index(_bo[_K], _beta, _delta_output(_K)),
        ),
        _update(
            "update_b_hidden", "b_j(t+1)", "b_j - beta dE/db_j = b_j + beta delta_j",
            "b_j(t+1)", _b[_j] + _beta * _delta[_j], "b_j",
            lambda e: e["bh"] - e["beta"] * grad(e["E"], e["bh"]),
            lambda e: e["bh"] + e["beta"] * e["delta_j"],
            "dnet_j/db_j = 1, so dE/db_j = -delta_j",
            _step_index(_bh[_J], _beta, _delta_hidden(_J)),
        ),
        Claim(
            key="recursion",
            target="delta^(l)",
            wrt="net^(l)",
            statement="for L layers: delta^(l) = f'(net^(l)) * (W^(l+1))^T delta^(l+1), "
            "delta^(L) = (T - O) * f'(net^(L)) (* elementwise)",
            reason="the chain rule one layer at a time; checked on a network with two hidden layers "
            "and an arbitrary differentiable activation f (an undefined SymPy function), so the "
            "sigmoid of the lecture is one case",
            display=lambda: sp.Eq(
                sp.Symbol("delta^(l)"),
                sp.HadamardProduct(
                    sp.MatrixSymbol("f'(net^(l))", size("n_l"), 1),
                    sp.MatrixSymbol("W^(l+1)", size("n_l+1"), size("n_l")).T * sp.MatrixSymbol("delta^(l+1)", size("n_l+1"), 1),
                ),
                evaluate=False,
            ),
            derived=lambda e: e["deep_derived"],
            claimed=lambda e: e["deep_claimed"],
            sizes=grid(I=[1], H=range(1, 4), H2=range(1, 4), O=range(1, 4)),
        ),
    ),
)
