"""The lecture's theorems (issue 19) as Hypothesis properties of torch's own functions, on drawn inputs.

Each property is checked on CPU and, marked ``cuda``, on a GPU when one is present; each has a wrong
variant (the sign flipped, a wrong constant, the permutation on the wrong side, a hypothesis dropped)
for which Hypothesis must find a counterexample. Tolerances are float64's: ``TOL`` times the scale
of the quantities compared; the statistical one (the scores' variance) is five standard errors.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, Phase, find, given, settings
from hypothesis import strategies as st

from verify.strategies import tensors

TOL = 1e-10  # float64: many ulps above the rounding of these short sums, far below any wrong constant
DEVICES = [pytest.param("cpu"), pytest.param("cuda", marks=pytest.mark.cuda)]
# Finding one counterexample is the point; shrinking it would only cost time.
FIND = settings(max_examples=400, deadline=None, database=None, suppress_health_check=list(HealthCheck),
                phases=(Phase.generate,))


def _on(device: str) -> str:
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("no CUDA device")
    return device


def _holds(prop: Callable[..., bool], strategy: st.SearchStrategy) -> None:
    """The wrong variant must be falsified: Hypothesis finds an input where ``prop`` is False."""
    find(strategy, lambda xs: not prop(*xs), settings=FIND)


# ---- information: Gibbs, H <= log n, H(p,q) = H(p) + KL, log-sum-exp bounds

PQ = tensors(("n",), ("n",), domain=("simplex", "simplex"), sizes={"n": (1, 12)})
Z = tensors(("n",), sizes={"n": (1, 12)})


def _kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return F.kl_div(q.log(), p, reduction="sum")  # torch's KL(p || q), with 0 log 0 = 0


def _entropy(p: torch.Tensor) -> torch.Tensor:
    return -torch.special.xlogy(p, p).sum()


def gibbs(p, q, device="cpu") -> bool:
    p, q = p.to(device), q.to(device)
    return float(_kl(p, q)) >= -TOL and abs(float(_kl(p, p))) <= TOL


def entropy_bound(p, q, device="cpu", slack=0.0) -> bool:
    return float(_entropy(p.to(device))) <= math.log(p.numel()) - slack + TOL


def cross_entropy_split(p, q, device="cpu", sign=1) -> bool:
    p, q = p.to(device), q.to(device)
    h_pq = -(p * q.log()).sum()
    return abs(float(h_pq - (_entropy(p) + sign * _kl(p, q)))) <= TOL * (1 + float(h_pq.abs()))


def lse_bounds(z, device="cpu", log_n=True) -> bool:
    z = z.to(device)
    lse, top = float(torch.logsumexp(z, 0)), float(z.max())
    return top - TOL <= lse <= top + (math.log(z.numel()) if log_n else 0.0) + TOL


@pytest.mark.parametrize("device", DEVICES)
@given(xs=PQ)
def test_information_inequalities(device: str, xs) -> None:
    device = _on(device)
    assert gibbs(*xs, device) and entropy_bound(*xs, device) and cross_entropy_split(*xs, device)


@pytest.mark.parametrize("device", DEVICES)
@given(xs=Z)
def test_log_sum_exp_bounds(device: str, xs) -> None:
    assert lse_bounds(*xs, _on(device))


def test_wrong_information_statements_are_falsified() -> None:
    _holds(lambda p, q: float(_kl(p, q)) <= TOL, PQ)  # KL <= 0: the sign flipped
    _holds(lambda p, q: entropy_bound(p, q, slack=0.1), PQ)  # H(p) <= log n - 0.1
    _holds(lambda p, q: cross_entropy_split(p, q, sign=-1), PQ)  # H(p,q) = H(p) - KL
    _holds(lambda z: lse_bounds(z, log_n=False), Z)  # LSE <= max z: log n dropped


# ---- softmax: shift invariance, Jacobian rows, the CE gradient's sum

ZC = st.tuples(Z, st.floats(-50, 50))
ZY = tensors(("n",), ("n",), domain=("real", "simplex"), sizes={"n": (1, 10)})


def shift_invariant(z, c, device="cpu", scale=False) -> bool:
    z = z.to(device)
    moved = z * c if scale else z + c
    return bool(torch.allclose(F.softmax(moved, 0), F.softmax(z, 0), rtol=0, atol=TOL))


def jacobian_rows(z, device="cpu", target=0.0) -> bool:
    jac = torch.autograd.functional.jacobian(lambda v: F.softmax(v, 0), z.to(device))
    return bool(torch.allclose(jac.sum(1), torch.full_like(z.to(device), target), rtol=0, atol=TOL))


def ce_gradient_sums_to_zero(z, y, device="cpu", target=0.0) -> bool:
    z = z.detach().to(device).clone().requires_grad_()
    F.cross_entropy(z[None], y.to(device)[None]).backward()  # probabilities as the target
    return abs(float(z.grad.sum()) - target) <= TOL


@pytest.mark.parametrize("device", DEVICES)
@given(zc=ZC, zy=ZY)
def test_softmax_theorems(device: str, zc, zy) -> None:
    device = _on(device)
    (z,), c = zc
    assert shift_invariant(z, c, device) and jacobian_rows(z, device) and ce_gradient_sums_to_zero(*zy, device)


def test_wrong_softmax_statements_are_falsified() -> None:
    _holds(lambda z, c: shift_invariant(z[0], c, scale=True), ZC)  # softmax(c z) = softmax(z): scaling is no shift
    _holds(lambda z: jacobian_rows(z, target=1.0), Z)  # rows summing to 1
    _holds(lambda z, y: ce_gradient_sums_to_zero(z, y, target=1.0), ZY)


# ---- layer norm: shift and scale, the gradient orthogonal to 1 and Xhat

ROWS = st.tuples(tensors(("n", "d"), ("n", "d"), ("d",), domain=("spread_rows", "real", "real"),
                         sizes={"n": (1, 4), "d": (2, 8)}),
                 st.floats(0.1, 10), st.floats(-5, 5), st.sampled_from([0.0, 1e-5, 0.1, 1.0]))


def ln_invariant(x, a, c, eps, device="cpu", exact_eps=True) -> bool:
    """LN(a x + c; eps) = LN(x; eps / a^2): exact at every eps; invariance itself only at eps = 0."""
    x = x.to(device)
    d = x.shape[-1]
    moved = F.layer_norm(a * x + c, (d,), eps=eps)
    return bool(torch.allclose(moved, F.layer_norm(x, (d,), eps=eps / a**2 if exact_eps else eps), rtol=0, atol=1e-8))


def ln_gradient_orthogonal(x, g, gamma, eps, device="cpu", claim_zero=False) -> bool:
    x, g, gamma = x.detach().to(device).clone().requires_grad_(), g.to(device), gamma.to(device)  # a fresh .grad
    d = x.shape[-1]
    (F.layer_norm(x, (d,), weight=gamma, eps=eps) * g).sum().backward()
    mu, var = x.mean(-1, keepdim=True), x.var(-1, unbiased=False, keepdim=True)
    sigma = (var + eps).sqrt()
    xhat = (x - mu) / sigma
    dx = x.grad
    ones_ok = bool(torch.allclose(dx.sum(-1), torch.zeros_like(dx[..., 0]), rtol=0, atol=1e-8))
    expected = torch.zeros_like(sigma[..., 0]) if claim_zero else (
        eps / sigma**2 * (g * gamma * xhat).sum(-1, keepdim=True) / sigma)[..., 0]
    return ones_ok and bool(torch.allclose((dx * xhat).sum(-1), expected.detach(), rtol=1e-7, atol=1e-8))


@pytest.mark.parametrize("device", DEVICES)
@given(case=ROWS)
def test_layer_norm_theorems(device: str, case) -> None:
    device = _on(device)
    (x, g, gamma), a, c, eps = case
    assert ln_invariant(x, a, c, eps, device) and ln_gradient_orthogonal(x, g, gamma, eps, device)
    assert ln_gradient_orthogonal(x, g, gamma, 0.0, device, claim_zero=True)  # exactly orthogonal at eps = 0


def test_wrong_layer_norm_statements_are_falsified() -> None:
    # Exact scale invariance claimed at eps > 0, and exact orthogonality to Xhat at eps > 0: both false.
    _holds(lambda xs, a, c, eps: ln_invariant(xs[0], a, c, eps, exact_eps=False), ROWS)
    _holds(lambda xs, a, c, eps: ln_gradient_orthogonal(*xs, eps, claim_zero=True), ROWS)


# ---- attention: the scores' variance, permutation equivariance, the causal mask

SELF = st.tuples(tensors(("n", "d"), ("d", "d"), ("d", "d"), ("d", "d"), domain=("real", "weight", "weight", "weight"),
                         sizes={"n": (2, 7), "d": (1, 5)}), st.integers(0, 2**31 - 1))


def _attention(x, wq, wk, wv, causal=False):
    return F.scaled_dot_product_attention(x @ wq, x @ wk, x @ wv, is_causal=causal)


def equivariant(xs, seed, device="cpu", side="left") -> bool:
    x, wq, wk, wv = (t.to(device) for t in xs)
    perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed)).to(device)
    P = torch.eye(x.shape[0], dtype=x.dtype, device=device)[perm]
    y = _attention(x, wq, wk, wv)
    expected = {"left": P @ y, "transpose": P.T @ y, "none": y}[side]
    return bool(torch.allclose(_attention(P @ x, wq, wk, wv), expected, rtol=0, atol=1e-9))


def causal_block_is_zero(xs, seed, device="cpu", causal=True) -> bool:
    x, wq, wk, wv = (t.to(device) for t in xs)
    jac = torch.autograd.functional.jacobian(lambda v: _attention(v, wq, wk, wv, causal), x)  # (n, d, n, d)
    n = x.shape[0]
    future = torch.triu(torch.ones(n, n, dtype=torch.bool, device=device), 1)  # j > i
    return bool((jac.permute(0, 2, 1, 3)[future].abs().max() <= TOL).item())


@pytest.mark.parametrize("device", DEVICES)
@given(case=SELF)
def test_self_attention_theorems(device: str, case) -> None:
    device = _on(device)
    assert equivariant(*case, device) and causal_block_is_zero(*case, device)


def test_wrong_attention_statements_are_falsified() -> None:
    _holds(lambda xs, seed: equivariant(xs, seed, side="transpose"), SELF)  # P^T on the wrong side
    _holds(lambda xs, seed: equivariant(xs, seed, side="none"), SELF)  # invariance instead of equivariance
    _holds(lambda xs, seed: causal_block_is_zero(xs, seed, causal=False), SELF)  # the mask dropped


SAMPLES = 20000


def score_variance_is_one(d_k: int, seed: int, device="cpu", scale=None) -> bool:
    """Var(q.k / sqrt(d_k)) = 1 within five standard errors (q, k standard normal, so Var(S^2) <= 9)."""
    g = torch.Generator().manual_seed(seed)
    q, k = torch.randn(SAMPLES, d_k, generator=g, dtype=torch.float64), torch.randn(SAMPLES, d_k, generator=g,
                                                                                   dtype=torch.float64)
    s = (q.to(device) * k.to(device)).sum(-1) * (scale(d_k) if scale else 1 / math.sqrt(d_k))
    return abs(float(s.var()) - 1) <= 5 * math.sqrt(9 / SAMPLES)


VARIANCE = st.tuples(st.integers(1, 64), st.integers(0, 2**31 - 1))


@pytest.mark.parametrize("device", DEVICES)
@given(case=VARIANCE)
@settings(max_examples=10)
def test_score_variance(device: str, case) -> None:
    assert score_variance_is_one(*case, _on(device))


def test_wrong_score_scaling_is_falsified() -> None:
    _holds(lambda d, seed: score_variance_is_one(d, seed, scale=lambda d: 1 / d), VARIANCE)
    _holds(lambda d, seed: score_variance_is_one(d, seed, scale=lambda d: 1.0), VARIANCE)


# ---- positional encoding: bounded entries, ||PE||^2 = d/2, the shift as a rotation

PE = st.tuples(st.integers(1, 64), st.floats(0, 500), st.floats(-50, 50))


def encoding(pos: torch.Tensor, d_model: int) -> torch.Tensor:
    i = torch.arange(d_model // 2, dtype=torch.float64, device=pos.device)
    angle = pos[..., None] / 10000 ** (2 * i / d_model)
    return torch.stack([angle.sin(), angle.cos()], -1).flatten(-2)  # PE(pos, 2i) = sin, PE(pos, 2i+1) = cos


def pe_theorems(half_d: int, pos: float, shift: float, device="cpu", norm=None) -> bool:
    d_model = 2 * half_d
    p = torch.tensor(pos, dtype=torch.float64, device=device)
    pe, moved = encoding(p, d_model), encoding(p + shift, d_model)
    w = 1 / 10000 ** (2 * torch.arange(half_d, dtype=torch.float64, device=device) / d_model)
    cos, sin = (shift * w).cos(), (shift * w).sin()
    pairs = pe.view(half_d, 2)
    rotated = torch.stack([cos * pairs[:, 0] + sin * pairs[:, 1], -sin * pairs[:, 0] + cos * pairs[:, 1]], -1)
    expected_norm = norm(d_model) if norm else d_model / 2
    return (bool((pe.abs() <= 1).all()) and abs(float(pe @ pe) - expected_norm) <= 1e-9 * d_model
            and bool(torch.allclose(moved.view(half_d, 2), rotated, rtol=0, atol=1e-8)))


@pytest.mark.parametrize("device", DEVICES)
@given(case=PE)
def test_positional_encoding_theorems(device: str, case) -> None:
    assert pe_theorems(*case, _on(device))


def test_wrong_positional_encoding_norm_is_falsified() -> None:
    _holds(lambda h, pos, shift: pe_theorems(h, pos, shift, norm=lambda d: d), PE)  # ||PE||^2 = d


# ---- perceptron: Novikoff's bound on drawn separable data

SEPARABLE = st.tuples(st.integers(2, 5), st.integers(2, 40), st.integers(0, 2**31 - 1), st.floats(0.05, 0.5))


def novikoff(dim: int, count: int, seed: int, margin: float, device="cpu", bound=None) -> bool:
    """Train from w = 0 on points (the bias folded in as a last coordinate) pushed along a unit w* until
    |w*.x| >= margin, labels y = sign(w*.x): the number of mistakes is at most (R / gamma)^2."""
    g = torch.Generator().manual_seed(seed)
    star = torch.randn(dim + 1, generator=g, dtype=torch.float64)
    star /= star.norm()
    x = torch.cat([torch.randn(count, dim, generator=g, dtype=torch.float64), torch.ones(count, 1, dtype=torch.float64)], 1)
    along = x @ star
    x = x + ((margin - along.abs()).clamp(min=0) * along.sign().where(along != 0, torch.ones_like(along)))[:, None] * star
    x = x.to(device)
    y = (x @ star.to(device)).sign()
    gamma, radius = float((y * (x @ star.to(device))).min()), float(x.norm(dim=1).max())
    limit = (bound or (lambda r, gm: (r / gm) ** 2))(radius, gamma)
    w, mistakes = torch.zeros(dim + 1, dtype=torch.float64, device=device), 0
    for _ in range(int(limit) + 2):  # more epochs than the bound allows mistakes
        errors = 0
        for xi, yi in zip(x, y):
            if float(yi * (w @ xi)) <= 0:
                w, errors = w + yi * xi, errors + 1
        mistakes += errors
        if errors == 0 or mistakes > limit:
            break
    return mistakes <= limit


@pytest.mark.parametrize("device", DEVICES)
@given(case=SEPARABLE)
@settings(max_examples=20)
def test_novikoff_bound(device: str, case) -> None:
    assert novikoff(*case, _on(device))


def test_novikoff_without_the_square_is_falsified() -> None:
    _holds(lambda *case: novikoff(*case, bound=lambda r, gm: r / gm), SEPARABLE)


# ---- conv: convolution is correlation with the kernel flipped; the input gradient is a full convolution

CONV = tensors(("b", "c", "h", "w"), ("o", "c", "kh", "kw"),
               sizes={"b": (1, 2), "c": (1, 3), "o": (1, 3), "h": (3, 7), "w": (3, 7), "kh": (1, 3), "kw": (1, 3)})
SIGNAL = tensors(("n",), ("k",), sizes={"n": (1, 9), "k": (1, 5)})


def full_convolution(g: torch.Tensor, w: torch.Tensor, flip: bool = True) -> torch.Tensor:
    """sum_o conv(G[o], W[o, c]): the correlation of the zero-padded G with the kernel rotated 180 degrees."""
    kh, kw = w.shape[-2:]
    kernel = w.flip(-1, -2) if flip else w
    return F.conv2d(F.pad(g, (kw - 1, kw - 1, kh - 1, kh - 1)), kernel.transpose(0, 1))


def conv_gradient(xs, device="cpu", flip=True) -> bool:
    x, w = (t.detach().to(device).clone() for t in xs)
    x.requires_grad_()
    y = F.conv2d(x, w)
    g = torch.randn(y.shape, generator=torch.Generator().manual_seed(0), dtype=y.dtype).to(device)
    (g * y).sum().backward()
    return bool(torch.allclose(x.grad, full_convolution(g, w, flip), rtol=0, atol=1e-10))


def conv_is_flipped_correlation(xs, device="cpu", flip=True) -> bool:
    x, k = xs
    true = torch.tensor([sum(float(x[a]) * float(k[t - a]) for a in range(len(x)) if 0 <= t - a < len(k))
                         for t in range(len(x) + len(k) - 1)], dtype=torch.float64)  # y[t] = sum_tau x[tau] k[t - tau]
    kernel = k.flip(0) if flip else k
    corr = F.conv1d(F.pad(x, (len(k) - 1, len(k) - 1)).to(device)[None, None], kernel.to(device)[None, None])[0, 0]
    return bool(torch.allclose(corr.cpu(), true, rtol=0, atol=1e-10))


@pytest.mark.parametrize("device", DEVICES)
@given(xs=CONV, signal=SIGNAL)
def test_conv_theorems(device: str, xs, signal) -> None:
    device = _on(device)
    assert conv_gradient(xs, device) and conv_is_flipped_correlation(signal, device)


def test_wrong_conv_statements_are_falsified() -> None:
    _holds(lambda *xs: conv_gradient(xs, flip=False), CONV)  # the kernel not flipped
    _holds(lambda *xs: conv_is_flipped_correlation(xs, flip=False), SIGNAL)
