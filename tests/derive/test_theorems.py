"""The lecture's theorems (issue 19): each is proved with its stated label, and a wrong variant of each
(sign flipped, a wrong constant, the wrong side of a permutation, a dropped hypothesis) is not."""

import dataclasses

import pytest
import sympy as sp

from derive import derive, topic
from derive.spec import prove_claim
from derive.theorems import (
    ONE_MINUS_EXP,
    PHI,
    Certificate,
    Lemma,
    Term,
    check_certificate,
    expectation,
    prove_expectation,
    prove_inequality,
    prove_lemma,
)
from derive.topics import attention, information, perceptron, positional_encoding

# entry -> {step key: (kind, label)}: every theorem of the issue, with the label it must carry.
THEOREMS = {
    "information": {"gibbs": ("inequality", "proved"), "entropy_bound": ("inequality", "proved"),
                    "lse_lower": ("inequality", "proved"), "lse_upper": ("inequality", "proved"),
                    "kl_identity": ("identity", "proved")},
    "softmax_ce": {"shift_invariance": ("identity", "proved"), "jacobian_rows_sum_zero": ("identity", "proved"),
                   "grad_sums_to_zero": ("identity", "proved")},
    "layernorm": {"shift_invariance": ("identity", "proved"), "scale_invariance": ("identity", "proved"),
                  "mean_transform": ("identity", "proved"), "variance_transform": ("identity", "proved"),
                  "grad_orthogonal_ones": ("identity", "proved"),
                  "grad_orthogonal_xhat": ("identity", "proved")},
    "attention": {"score_variance": ("expectation", "proved"),
                  "permutation_equivariance": ("identity", "proved"), "causal_independence": ("identity", "proved")},
    "positional_encoding": {"entries_bounded": ("inequality", "proved"), "norm": ("identity", "proved"),
                            "relative_shift": ("identity", "proved")},
    "perceptron": {"novikoff": ("inequality", "proved"), "norm_expansion": ("identity", "proved")},
    "conv": {"conv_vs_corr": ("identity", None), "dX_is_convolution": ("identity", None)},
}


@pytest.mark.parametrize("name", list(THEOREMS))
def test_every_theorem_is_a_step_with_its_kind_and_label(name: str, derivation_of) -> None:
    steps = {step.key: step for step in derivation_of(name).steps}
    for key, (kind, label) in THEOREMS[name].items():
        assert key in steps, (name, key)
        assert steps[key].kind == kind, (name, key, steps[key].kind)
        assert steps[key].status.ok, (name, key, steps[key].status.detail)
        if label is not None:
            assert steps[key].status.label == label, (name, key, steps[key].status.label)
        if kind != "identity":
            assert steps[key].proof, (name, key)  # says what it rests on


def test_the_lemmas_are_proved_with_their_equality_cases() -> None:
    phi = prove_lemma(PHI)
    assert phi.ok and phi.minimum == 0 and phi.zeros == (1,)
    one_minus_exp = prove_lemma(ONE_MINUS_EXP)
    assert one_minus_exp.ok and one_minus_exp.zeros == (0,)


@pytest.mark.parametrize("lemma", [
    Lemma("log t >= 0 for t > 0", PHI.variable, sp.log(PHI.variable), PHI.domain),  # false below t = 1
    Lemma("1 + log t - t >= 0 for t > 0", PHI.variable, -PHI.function, PHI.domain),  # the sign flipped
    Lemma("1 - e^u >= 0 for every u", ONE_MINUS_EXP.variable, ONE_MINUS_EXP.function, sp.Interval(-sp.oo, sp.oo)),
    Lemma("t - 1 - log t >= 0.1 for t > 0", PHI.variable, PHI.function - sp.Rational(1, 10), PHI.domain),
    # No critical point and both ends at 1, but a pole inside the interval: not proved.
    Lemma("2 - 1/u^2 >= 0 on (-1, 1)", ONE_MINUS_EXP.variable, 2 - 1 / ONE_MINUS_EXP.variable**2,
          sp.Interval.open(-1, 1)),
], ids=lambda lemma: lemma.name)
def test_a_false_lemma_is_not_proved(lemma: Lemma) -> None:
    assert not prove_lemma(lemma).ok


def _replace_gap(theorem, transform):
    """The wrong claim: greater - lesser becomes transform(greater - lesser) at every listed size, and the
    certificate's gap with it (so the claim and the gap agree, and only the search can catch it)."""
    def certificate(sizes):
        c = theorem.certificate(sizes)
        return dataclasses.replace(c, gap=transform(c.gap, sizes))

    def sides(sizes):
        greater, lesser = theorem.sides(sizes)
        return (greater, lesser) if sizes is None else (lesser + transform(greater - lesser, sizes), lesser)

    return dataclasses.replace(theorem, certificate=certificate, sides=sides, symbolic=None)


WRONG_INEQUALITIES = {
    "KL <= 0 (sign flipped)": (information.GIBBS, lambda gap, s: -gap),
    "H(p) <= log n - 0.1": (information.ENTROPY_BOUND, lambda gap, s: gap - sp.Rational(1, 10)),
    "H(p) >= log n (sign flipped)": (information.ENTROPY_BOUND, lambda gap, s: -gap),
    "LSE <= max z (log n dropped)": (information.LSE_UPPER, lambda gap, s: gap - sp.log(s["n"])),
    "LSE >= max z + log n": (information.LSE_LOWER, lambda gap, s: gap - sp.log(s["n"])),
    "|PE| <= 1/2": (positional_encoding.BOUND_SIN, lambda gap, s: gap - sp.Rational(3, 4)),
    "Novikoff with R / gamma": (perceptron.NOVIKOFF_BOUND,
                                lambda gap, s: gap - (perceptron._R / perceptron._gamma) ** 2
                                + perceptron._R / perceptron._gamma),
    "w_k.w* >= (k + 1) gamma": (perceptron.NOVIKOFF_MARGIN, lambda gap, s: gap - perceptron._gamma),
}


@pytest.mark.parametrize("wrong", list(WRONG_INEQUALITIES))
def test_a_wrong_inequality_fails_with_a_counterexample(wrong: str) -> None:
    theorem, transform = WRONG_INEQUALITIES[wrong]
    status = prove_inequality(_replace_gap(theorem, transform))
    assert status.kind == "failed", (wrong, status.label, status.detail)
    assert "counterexample" in status.detail and "< 0 at" in status.detail


def test_the_reviewers_wrong_displayed_constant_is_not_proved() -> None:
    """A wrong constant in the claim the user sees (D_KL >= 1) is no longer labelled proved."""
    from derive.theorems import inequality_step

    wrong = dataclasses.replace(information.GIBBS, statement="D_KL >= 1",
                                display=sp.GreaterThan(sp.Symbol("D_KL(p||q)"), 1, evaluate=False))
    status = inequality_step(wrong).status
    assert status.kind == "failed" and "not the claim the sides state" in status.detail, status.detail


def test_a_wrong_constant_in_the_sides_fails_against_the_certificate() -> None:
    """The sides say D_KL >= 1 (and so does the display made from them); the certificate proves D_KL >= 0."""
    from derive.theorems import shown

    kl = information._KL
    wrong = dataclasses.replace(information.GIBBS, sides=lambda sizes: (
        kl if sizes is None else information.GIBBS.sides(sizes)[0], sp.S.One))
    assert str(shown(wrong)) == "D_KL(p||q) >= 1"
    status = prove_inequality(wrong)
    assert status.kind == "failed", status.detail


@pytest.mark.parametrize("theorem", [information.GIBBS, information.ENTROPY_BOUND, information.LSE_UPPER,
                                     perceptron.NOVIKOFF_BOUND, positional_encoding.BOUND_SIN],
                         ids=lambda t: t.key)
def test_a_certificate_for_another_gap_fails(theorem) -> None:
    """The certificate's gap changed by a constant (the sides right): the gap is not greater - lesser."""
    def certificate(sizes):
        c = theorem.certificate(sizes)
        return dataclasses.replace(c, gap=c.gap - sp.Rational(1, 10))

    status = prove_inequality(dataclasses.replace(theorem, certificate=certificate))
    assert status.kind == "failed" and "is not greater - lesser" in status.detail, status.detail
    assert prove_inequality(theorem).kind == "proved"


def test_every_inequality_shows_the_claim_of_its_sides() -> None:
    from derive.theorems import shown

    assert str(shown(information.GIBBS)) == "D_KL(p||q) >= 0"
    assert str(shown(information.ENTROPY_BOUND)) == "H(p) <= log(n)"
    assert str(shown(information.LSE_LOWER)) == "max_i z_i <= LSE(z)"
    assert str(shown(information.LSE_UPPER)) == "LSE(z) <= max_i z_i + log(n)"
    assert str(shown(perceptron.NOVIKOFF_BOUND)) == "k <= R**2/gamma**2"


WRONG_EQUALITY = {
    "KL = 0 iff q = 2 p": (information.GIBBS, lambda s: {q: 2 * p for p, q in zip(*information._pq(s))}),
    "H = log n iff p_i = 1/(n+1)": (information.ENTROPY_BOUND,
                                    lambda s: dict.fromkeys(information._pq(s)[0], sp.Rational(1, s["n"] + 1))),
    "KL = 0 iff p_1 = q_1 only": (information.GIBBS, lambda s: {information._pq(s)[1][0]: information._pq(s)[0][0]}
                                  if s["n"] > 1 else {}),
    "max z = LSE always": (information.LSE_LOWER, lambda s: {}),
    "LSE = max z + log n never": (information.LSE_UPPER, lambda s: None),
}


@pytest.mark.parametrize("wrong", list(WRONG_EQUALITY))
def test_a_wrong_equality_case_fails(wrong: str) -> None:
    theorem, case = WRONG_EQUALITY[wrong]
    status = prove_inequality(dataclasses.replace(theorem, equality_case=case))
    assert status.kind == "failed" and "equality case" in status.detail, (wrong, status.detail)


def test_an_equality_clause_without_data_is_shown_as_not_proved() -> None:
    from derive.theorems import inequality_step

    step = inequality_step(dataclasses.replace(information.GIBBS, equality_case=None))
    assert step.status.label == "proved"
    assert "not proved: D_KL(p||q) = 0 if and only if p = q" in step.claim
    checked = inequality_step(information.GIBBS)
    assert "not proved" not in checked.claim and "equality case checked" in checked.claim


def test_score_variance_at_symbolic_size_comes_from_the_definition() -> None:
    """The symbolic reduction starts from S = sum_a q_a k_a / sqrt(d_k): scale it by 1/d_k and it is not 1."""
    from derive.theorems import index_expectation, square_of_sum

    d, b = attention._dk, attention._b
    assert attention._score_second_moment_symbolic() == 1
    moments = {attention._q_entry: attention._UNIT_MOMENTS, attention._k_entry: attention._UNIT_MOMENTS}
    wrong = attention._score(d) * sp.sqrt(d) / d
    assert sp.simplify(index_expectation(square_of_sum(wrong, b), moments) - 1 / d) == 0
    status = prove_expectation(dataclasses.replace(attention.SCORE_VARIANCE, symbolic=lambda: index_expectation(
        square_of_sum(wrong, b), moments)))
    assert status.kind == "proved_sizes", status.detail


def test_a_wrong_certificate_proves_nothing_even_without_a_counterexample() -> None:
    """The certificate is checked on its own: sampling alone never makes a theorem proved."""
    c = information.GIBBS.certificate({"n": 2})
    assumptions = information.GIBBS.assumptions({"n": 2})
    assert check_certificate(c, assumptions, symbolic=False) is None
    flipped = dataclasses.replace(c, gap=-c.gap)
    assert "does not reduce" in check_certificate(flipped, assumptions, symbolic=False)
    no_assumption = dataclasses.replace(c, multipliers={})  # sum p = sum q = 1 is needed
    assert "does not reduce" in check_certificate(no_assumption, assumptions, symbolic=False)
    p, q = sp.symbols("p_1 q_1", positive=True)
    signless = Certificate(q - p, (Term(q - p),))  # an identity, but q - p has no sign
    assert "not known to be >= 0" in check_certificate(signless, {}, symbolic=False)
    outside = Certificate(1 - sp.exp(p), (Term(sp.S.One, ONE_MINUS_EXP, p),))  # p > 0 is outside u <= 0
    assert "not known to lie" in check_certificate(outside, {}, symbolic=False)
    invented = dataclasses.replace(c, multipliers={"q = p": sp.S.One})
    assert "not stated" in check_certificate(invented, assumptions, symbolic=False)
    # With the certificate broken and no counterexample at the points, the label is numeric, not proved.
    unproved = dataclasses.replace(information.GIBBS, certificate=lambda s: dataclasses.replace(
        information.GIBBS.certificate(s), multipliers={}), symbolic=None)
    assert prove_inequality(unproved).kind == "numeric"


def test_novikoff_without_the_mistake_hypothesis_is_not_proved() -> None:
    """Drop y w_{k-1}.x <= 0 (the update happens only on a mistake): ||w_k||^2 <= k R^2 no longer follows."""
    norm = perceptron.NOVIKOFF_NORM
    base = norm.certificate({})
    weakened = Certificate(base.gap, base.terms[:2], {k: v for k, v in base.multipliers.items() if k != "mistake"})
    assert check_certificate(weakened, norm.assumptions({}), symbolic=True) is not None
    assert prove_inequality(norm).kind == "proved"


def test_score_variance_needs_the_square_root() -> None:
    assert prove_expectation(attention.SCORE_VARIANCE).kind == "proved"
    for scale in (lambda d: 1 / sp.Integer(d), lambda d: sp.S.One):  # 1/d_k, or no scaling at all
        def second_moment(sizes, scale=scale):
            d = sizes["d_k"]
            q, k = sp.symbols(f"q1:{d + 1}", real=True), sp.symbols(f"k1:{d + 1}", real=True)
            return expectation((scale(d) * sum(a * b for a, b in zip(q, k))) ** 2, [*q, *k], {1: 0, 2: 1})

        status = prove_expectation(dataclasses.replace(attention.SCORE_VARIANCE, value=second_moment))
        assert status.kind == "failed" and "d_k=2" in status.detail, status.detail


def test_an_expectation_never_assumes_a_moment() -> None:
    q = sp.Symbol("q", real=True)
    with pytest.raises(KeyError, match="E\\[x\\^4\\]"):
        expectation(q**4, [q], {1: 0, 2: 1})
    assert expectation(q**4, [q], {1: 0, 2: 1, 4: 3}) == 3


WRONG_IDENTITIES = {
    "softmax(z + c) = softmax(z) + c": ("softmax_ce", "shift_invariance",
                                        lambda e: e["shift"][1] + sp.Symbol("c", real=True) * sp.ones(len(e["z"]), 1)),
    "Jacobian rows sum to 1": ("softmax_ce", "jacobian_rows_sum_zero", lambda e: sp.ones(len(e["z"]), 1)),
    "sum_j dL/dz_j = 1": ("softmax_ce", "grad_sums_to_zero", lambda e: sp.ones(1, 1)),
    "LN(aX + c; eps) = LN(X; eps): scale invariance claimed exact at eps > 0": (
        "layernorm", "scale_invariance", lambda e: _ln_same_eps(e)),
    "var(aX + c) = a var(X)": ("layernorm", "variance_transform", lambda e: e["variance_transform"][1] / sp.Symbol(
        "a", positive=True)),
    "gradient exactly orthogonal to Xhat at eps > 0": ("layernorm", "grad_orthogonal_xhat",
                                                       lambda e: sp.zeros(e["X"].rows, 1)),
    "Attention(P X) = P^T Attention(X) (wrong side)": ("attention", "permutation_equivariance", None),
    "Attention(P X) = Attention(X) (invariance)": ("attention", "permutation_equivariance", None),
    "||PE||^2 = d_model": ("positional_encoding", "norm", lambda e: sp.Matrix([e["d_model"]])),
}


def _ln_same_eps(env):
    from derive.topics.layernorm import _normalised

    return _normalised(env["X"], sp.Symbol("epsilon", positive=True))


def _equivariance_wrong(side: str):
    from derive.atoms import matrix
    from derive.topics.attention import _weights, permutations, self_attention

    def claimed(env):
        n, d = env["Q"].shape
        X, weights = matrix("X", n, d), _weights(d, d)
        Y = self_attention(X, *weights)
        return sp.Matrix.vstack(*[(P.T * Y if side == "transpose" else Y) for P in permutations(n)])

    return claimed


@pytest.mark.parametrize("wrong", list(WRONG_IDENTITIES))
def test_a_wrong_identity_fails(wrong: str) -> None:
    name, key, claimed = WRONG_IDENTITIES[wrong]
    sizes = None
    if claimed is None:
        claimed = _equivariance_wrong("transpose" if "P^T" in wrong else "none")
        sizes = ({"n": 3, "d_k": 1},)  # the cycle of 3 is not its own inverse, so P^T differs from P
    if name == "layernorm":
        sizes = ({"n": 1, "d": 2},)
    claim = next(c for c in topic(name).claims if c.key == key)
    status = prove_claim(topic(name), dataclasses.replace(claim, claimed=claimed, index=None, sizes=sizes or claim.sizes))
    assert status.kind == "failed", (wrong, status.label, status.detail)


def test_scale_invariance_at_symbolic_width_needs_the_right_epsilon() -> None:
    """The index form of LN(a x + c; eps) = LN(x; eps / a^2) is not proved with eps left unchanged."""
    from derive.proof import index_status
    from derive.topics import layernorm as ln

    claim = next(c for c in topic("layernorm").claims if c.key == "scale_invariance")
    assert index_status(claim.index.derived(), claim.index.claimed(), None)
    same_eps = (ln._x[ln._j] - ln._mu) / ln.Sqrt(ln._var + ln._eps)
    assert not index_status(claim.index.derived(), same_eps, None)


def test_orthogonality_to_xhat_at_symbolic_width_needs_epsilon() -> None:
    """sum_j dX_j Xhat_j = (eps / sigma^3) sum_j Ghat_j Xhat_j is proved at every width; exact orthogonality
    (the claim with eps = 0) and the claim without the 1/sigma^3 are not."""
    from derive.proof import index_status
    from derive.topics import layernorm as ln

    claim = next(c for c in topic("layernorm").claims if c.key == "grad_orthogonal_xhat")
    assert index_status(claim.index.derived(), claim.index.claimed(), None)
    sums = sp.Sum(ln._g[ln._k2] * ln._xhat(ln._k2), (ln._k2, 1, ln._d))
    for wrong in (sp.S.Zero, ln._eps * sums, ln._eps / ln._row_sigma**2 * sums):
        assert not index_status(claim.index.derived(), ln._in_sigma(wrong), None), wrong


def test_causal_attention_in_index_form_is_self_attention_with_the_mask() -> None:
    """The index form that proves causal independence at every size is the same function as the entrywise
    builder's masked self-attention: equal entry by entry at n = 3, d_k = 2 (every output entry)."""
    from derive.concrete import causal_mask
    from derive.proof import compare_matrices
    from derive.topics import attention as at

    n, d_k = 3, 2
    X, weights = at.matrix("X", n, d_k), at._weights(d_k, d_k)
    built = at.self_attention(X, *weights, mask=causal_mask(n, n))
    entries = {at._x[r + 1, c + 1]: X[r, c] for r in range(n) for c in range(d_k)}
    for base, w in zip((at._Wq, at._Wk, at._Wv), weights, strict=True):
        entries |= {base[r + 1, c + 1]: w[r, c] for r in range(d_k) for c in range(d_k)}
    index = sp.Matrix(n, d_k, lambda i, a: at.causal_output_entry().subs(
        {at._d: d_k, at._row: i + 1, at._col: a + 1}).doit().xreplace(entries))
    assert compare_matrices(index, built).kind == "proved"


def test_causal_independence_at_symbolic_size_rests_on_the_mask() -> None:
    """Without the mask (every row attends to all n keys) the same derivative is not proved 0, and a row
    j <= i (m = 0) matters: the index-form proof is about the mask and the later rows."""
    from derive.indexcalc import collapse_in_ranges, index_diff
    from derive.proof import index_status
    from derive.topics import attention as at

    claim = next(c for c in topic("attention").claims if c.key == "causal_independence")
    assert index_status(claim.index.derived(), claim.index.claimed(), None)
    unmasked = at.causal_output_entry().replace(
        lambda e: isinstance(e, sp.Sum) and e.limits[0][2] == at._row,
        lambda e: sp.Sum(e.function, (e.limits[0][0], 1, at._n)))
    later = at._x[at._row + at._gap, at._later]
    assert not index_status(collapse_in_ranges(index_diff(unmasked, later), {}), sp.S.Zero, None)
    same_row = at._x[at._row, at._later]
    assert not index_status(collapse_in_ranges(index_diff(at.causal_output_entry(), same_row), {}), sp.S.Zero, None)


def test_equivariance_at_symbolic_size_rests_on_reordering_a_whole_sum() -> None:
    """Attention(P X)_ia = Attention(X)_{pi(i), a} is proved at every n and d_k; not without the output's
    permutation (P^T P X), and not without the lemma that reorders the sums over all n keys."""
    from derive.indexcalc import sum_over_permutation
    from derive.proof import index_status
    from derive.topics import attention as at

    claim = next(c for c in topic("attention").claims if c.key == "permutation_equivariance")
    assert index_status(claim.index.derived(), claim.index.claimed(), None)
    permuted = at._index_output(at._row, at._n, at._pi)
    assert not index_status(claim.index.derived(), at._index_output(at._row, at._n), None)
    assert not index_status(permuted, claim.index.claimed(), None)
    causal = at._index_output(at._row, at._row, at._pi)  # a mask is not permutation equivariant
    assert not index_status(sum_over_permutation(causal, at._pi, 1, at._n), at._index_output(at._pi(at._row), at._pi(at._row)), None)


def test_attention_of_a_permuted_input_in_index_form_is_the_builders() -> None:
    """The index form with (P X)_rc = X_{pi(r), c} is self_attention(P X) at n = 3, d_k = 2, pi the cycle."""
    from derive.proof import compare_matrices
    from derive.topics import attention as at

    n, d_k, cycle = 3, 2, {1: 2, 2: 3, 3: 1}
    X, weights = at.matrix("X", n, d_k), at._weights(d_k, d_k)
    P = sp.Matrix(n, n, lambda r, c: 1 if cycle[r + 1] == c + 1 else 0)
    built = at.self_attention(P * X, *weights)
    entries = {at._x[r + 1, c + 1]: X[r, c] for r in range(n) for c in range(d_k)}
    for base, w in zip((at._Wq, at._Wk, at._Wv), weights, strict=True):
        entries |= {base[r + 1, c + 1]: w[r, c] for r in range(d_k) for c in range(d_k)}
    pi = sp.Lambda(sp.Symbol("r"), sp.Piecewise(*[(v, sp.Eq(sp.Symbol("r"), k)) for k, v in cycle.items()]))

    def entry(i: int, a: int) -> sp.Expr:
        form = at._index_output(at._row, at._n, at._pi).subs({at._n: n, at._d: d_k, at._row: i, at._col: a})
        return form.doit().replace(at._pi, pi).xreplace(entries)

    index = sp.Matrix(n, d_k, lambda i, a: entry(i + 1, a + 1))
    assert compare_matrices(index, built).kind == "proved"


def test_conv_kernel_gradient_at_symbolic_size_is_not_the_swapped_correlation() -> None:
    """dL/dW[O, C, A, B] = sum_ij X[C, A + i, B + j] G[O, i, j] at every size; with A and B swapped, or the
    upstream gradient of another channel, it is not proved."""
    from derive.proof import index_status
    from derive.topics import conv as cv

    claim = next(c for c in topic("conv").claims if c.key == "grad_W")
    assert index_status(claim.index.derived(), claim.index.claimed(), None)
    for wrong in (cv._index_outputs(cv._Xi[cv._wc, cv._wb + cv._i, cv._wa + cv._j] * cv._Gi[cv._wo, cv._i, cv._j]),
                  cv._index_outputs(cv._Xi[cv._wc, cv._wa + cv._i, cv._wb + cv._j] * cv._Gi[cv._wc, cv._i, cv._j])):
        assert not index_status(claim.index.derived(), wrong, None)


def test_backprop_updates_at_symbolic_widths_are_not_the_lecture_mistakes() -> None:
    """The update rules are proved at every width for any activation f; the input of another unit, the
    wrong sign, or the output delta in the hidden rule are not."""
    from derive.proof import index_status
    from derive.topics import bp

    claims = {c.key: c for c in topic("bp").claims}
    hidden, output = claims["update_w_hidden"].index, claims["update_w_output"].index
    assert index_status(hidden.derived(), hidden.claimed(), None)
    assert index_status(output.derived(), output.claimed(), None)
    wrong = {
        "I_j for I_i": bp._wh[bp._J, bp._II] + bp._alpha * bp._delta_hidden(bp._J) * bp._I[bp._J],
        "delta_k for delta_j": bp._wh[bp._J, bp._II] + bp._alpha * bp._delta_output(bp._J) * bp._I[bp._II],
        "minus the step": bp._wh[bp._J, bp._II] - bp._alpha * bp._delta_hidden(bp._J) * bp._I[bp._II],
    }
    u = sp.Dummy("u")
    for order in (2, 3):  # f'' (or f''') where f' belongs: naming f' must not make them one
        higher = sp.diff(bp._f(u), u, order).subs(u, bp._net_output(bp._K))
        typo = bp._wo[bp._K, bp._J] + bp._alpha * (bp._T[bp._K] - bp._f(bp._net_output(bp._K))) * higher \
            * bp._f(bp._net_hidden(bp._J))
        assert not index_status(output.derived(), bp._with_f_prime_named(typo), None), order
    for what, claimed in wrong.items():
        assert not index_status(hidden.derived(), bp._with_f_prime_named(claimed), None), what


def test_without_the_causal_mask_the_future_matters() -> None:
    """The same Jacobian block without the mask is not 0: the causal claim is about the mask."""
    from derive.atoms import matrix
    from derive.proof import compare_matrices
    from derive.topics.attention import _weights, self_attention

    X, weights = matrix("X", 2, 1), _weights(1, 1)
    Y = self_attention(X, *weights)
    block = sp.Matrix([sp.Derivative(Y[0, 0], X[1, 0])])
    assert compare_matrices(block, sp.zeros(1, 1)).kind == "failed"


def test_the_theorems_are_in_the_json_of_derive() -> None:
    steps = {s.key: s for s in derive("information").steps}
    assert steps["gibbs"].status.to_json()["label"] == "proved"
    assert "p = q" in steps["gibbs"].claim  # the equality case is part of the statement
    assert any("t - 1 - log t" in line or "t - log(t) - 1" in line for line in steps["gibbs"].proof)
