"""Catalog entries written as forwards (verify/forwards/): claims proved, wrong claims refuted."""

from __future__ import annotations

import dataclasses

import pytest

from graphs.route import graph_results
from verify.forwards import NAMES, check_claims, entry, forward_of


@pytest.mark.parametrize("name", NAMES)
def test_every_claim_of_a_forward_entry_is_proved_entry_by_entry(name: str) -> None:
    item = entry(name)
    statuses = check_claims(item)
    assert set(statuses) == set(item.claims)
    for claim, status in statuses.items():
        assert status.kind == "proved_sizes", (claim, status.detail)


@pytest.mark.parametrize("name", NAMES)
def test_a_forward_entrys_matrix_form_is_proved_by_the_graph_route(name: str) -> None:
    item = entry(name)
    forward_of(item)
    results = [r for r in graph_results(name) if not r.intermediate]
    assert {r.wrt for r in results} == set(item.claims)
    assert all(r.status.kind == "proved" for r in results)


@pytest.mark.parametrize("name", NAMES)
def test_a_claim_with_a_term_dropped_or_the_sign_flipped_fails_with_a_counterexample(name: str) -> None:
    item = entry(name)
    first = next(iter(item.claims))
    for wrong in (f"-({item.claims[first]})", f"2 ({item.claims[first]})"):
        status = check_claims(dataclasses.replace(item, claims={first: wrong}))[first]
        assert status.kind == "failed" and "derived" in status.detail and "claimed" in status.detail


@pytest.mark.parametrize("name", NAMES)
def test_the_numeric_check_compares_with_the_practitioners_reference(name: str) -> None:
    from verify.check import check
    from verify.forwards import entry_targets

    item = entry(name)
    for target in entry_targets(item):
        assert check(target, "matrix", examples=5).passed is True
    # the same gradients against a reference that computes something else: every check must fail
    wrong = dataclasses.replace(item, reference=lambda torch, t: 1.01 * item.reference(torch, t))
    for target in entry_targets(wrong):
        assert check(target, "matrix", examples=5).passed is False


def test_the_report_of_a_forward_entry_shows_each_claim_with_its_status() -> None:
    from gradproof.expression_report import build_expression_report
    from gradproof.report import report_html
    from verify.forwards import claims_for_report

    item = entry("rmsnorm")
    doc = build_expression_report(forward_of(item), examples=2, dtypes=("float64",), claims=claims_for_report(item))
    claimed = {r["wrt"]: r["claim"]["status"]["label"] for r in doc["results"]}
    assert claimed == {"X": "proved n<=2, d<=2", "g": "proved n<=2, d<=2"}
    page = report_html(doc)
    assert page.count("The claim, in the lecture") == 2 and "apply(" not in page and "str()" not in page
