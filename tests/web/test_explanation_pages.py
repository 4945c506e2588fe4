# ruff: noqa: F811 (the fixtures imported from test_match_pages are parameters here)
"""The match page and the contact message list a term met only at a general ancestor as having
no close counterpart: for new explanations (the scorer stores none) and for ones stored before."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from matchmaker.cases.models import Case, Institution
from matchmaker.casework.models import Match
from matchmaker.casework.services.matches import run_matching
from tests.factories import make_case
from tests.web.test_match_pages import (  # noqa: F401 (fixtures)
    HYPOTONIA,
    alice_case,
    detail_url,
    features,
)

pytestmark = pytest.mark.django_db

BRACHYCEPHALY = "HP:0000248"
FOCAL_SEIZURE = "HP:0007359"


@pytest.fixture
def brachycephaly_match(
    alice_case: Case, other_institution: Institution, eager_tasks: None
) -> Match:
    """Alice's case (seizure, delay, hypotonia) against one with brachycephaly and focal seizures."""
    other = make_case(
        institution=other_institution,
        label="brachy",
        features=features((BRACHYCEPHALY, FOCAL_SEIZURE)),
    )
    run_matching(alice_case.pk)
    return Match.objects.get(case=alice_case, matched_case=other)


def _pairs_section(html: str) -> str:
    start = html.index('id="pairs-heading"')
    return html[start : html.index("</ul>", start)]


def test_the_stored_explanation_has_no_counterpart_for_hypotonia(
    brachycephaly_match: Match,
) -> None:
    pairs = {p["query_term"]: p for p in brachycephaly_match.explanation["term_matches"]}
    assert pairs[HYPOTONIA]["case_term"] is None
    assert pairs[HYPOTONIA]["common_ancestor"] is None
    assert pairs["HP:0001250"]["case_term"] == FOCAL_SEIZURE


def test_the_page_lists_hypotonia_with_no_close_counterpart(
    alice_client: Client, brachycephaly_match: Match
) -> None:
    html = alice_client.get(detail_url(brachycephaly_match)).content.decode()
    section = _pairs_section(html)
    hypotonia = section[section.index("Hypotonia") :].split("</li>", 1)[0]
    assert "has no close counterpart" in hypotonia
    assert "Brachycephaly" not in hypotonia
    assert "musculoskeletal" not in section


def test_an_explanation_stored_before_the_rule_is_read_with_it(
    alice_client: Client, brachycephaly_match: Match
) -> None:
    explanation = dict(brachycephaly_match.explanation)
    explanation["term_matches"] = [
        *[p for p in explanation["term_matches"] if p["query_term"] != HYPOTONIA],
        {
            "query_term": HYPOTONIA,
            "query_label": "Hypotonia",
            "case_term": BRACHYCEPHALY,
            "case_label": "Brachycephaly",
            "common_ancestor": "HP:0033127",
            "common_ancestor_label": "Abnormality of the musculoskeletal system",
            "information_content": 0.42,
        },
    ]
    Match.objects.filter(pk=brachycephaly_match.pk).update(explanation=explanation)

    html = alice_client.get(detail_url(brachycephaly_match)).content.decode()
    section = _pairs_section(html)
    assert "musculoskeletal" not in section
    assert "has no close counterpart" in section
    message = alice_client.get(
        reverse("match-contact", args=[brachycephaly_match.pk])
    ).content.decode()
    assert "Hypotonia" not in message
    assert "musculoskeletal" not in message
    assert "Focal-onset seizure" in message
