# ruff: noqa: F811 (the fixtures imported from test_match_pages are parameters here)
"""The other patient on the match page, as the match carries it: sex, onset, inheritance and
all their genes and variants (not only the shared ones); a local case only when its team shares
it (consented and active), never a withdrawn or unconsented case's data."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import GenomicFeatureRecord, VariantRecord
from matchmaker.casework.models import Match
from matchmaker.casework.services import withdraw_case
from matchmaker.casework.services.matches import run_matching
from matchmaker.federation.models import Peer
from tests.factories import make_case
from tests.web.test_match_pages import (  # noqa: F401 (fixtures)
    alice_case,
    detail_url,
    far_node,
    remote_match,
)

pytestmark = pytest.mark.django_db


def other_patient_card(html: str) -> str:
    """The "The other patient" section of the page, to look in it alone."""
    found = re.search(
        r'<section class="card" aria-labelledby="other-heading">.*?</section>', html, re.S
    )
    assert found, "the page has the other patient's card"
    return found.group(0)


def test_a_peers_patient_is_shown_whole_with_every_gene_and_variant(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(alice_case, far_node, "far-whole", 0.8)
    patient = dict(match.remote_patient)
    patient.update(
        sex="MALE",
        ageOfOnset="HP:0003593",
        inheritanceMode="HP:0000007",
        genomicFeatures=[
            {"gene": {"id": "NGLY1"}, "zygosity": 2},
            {
                "gene": {"id": "SCN1A"},
                "variant": {
                    "assembly": "GRCh38",
                    "referenceName": "2",
                    "start": 165991234,
                    "referenceBases": "C",
                    "alternateBases": "T",
                },
                "zygosity": 1,
            },
        ],
    )
    Match.objects.filter(pk=match.pk).update(remote_patient=patient)

    card = other_patient_card(alice_client.get(detail_url(match)).content.decode())

    assert "As Far Node sent it" in card
    assert "<dd>Male</dd>" in card
    assert "Infantile onset (HP:0003593)" in card
    assert "Autosomal recessive inheritance (HP:0000007)" in card
    assert "<strong>NGLY1</strong>" in card
    # Not shared with our case, shown all the same, with its variant shown 1-based.
    assert "<strong>SCN1A</strong>" in card
    assert re.search(r"GRCh38 (chr)?2:165991235 C&gt;T", card)
    assert "heterozygous or hemizygous" in card


def test_a_peers_patient_with_odd_fields_shows_what_is_sound(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(alice_case, far_node, "far-odd", 0.8)
    patient = dict(match.remote_patient)
    patient.update(gender="female", ageOfOnset="soon", inheritanceMode=7, genomicFeatures="x")
    Match.objects.filter(pk=match.pk).update(remote_patient=patient)

    response = alice_client.get(detail_url(match))

    assert response.status_code == 200
    card = other_patient_card(response.content.decode())
    assert "<dd>Female</dd>" in card  # MME 1.0's `gender`
    assert "soon" not in card
    assert "No gene given." in card


def local_pair(
    alice_case: Case, other_institution: Institution, *, consented: bool
) -> tuple[Match, Case]:
    other = make_case(
        institution=other_institution,
        consented=consented,
        label="theirs",
        sex="MALE",
        age_of_onset="HP:0003577",
        genomic_features=(
            GenomicFeatureRecord(gene_id="NGLY1", zygosity=2),
            GenomicFeatureRecord(
                gene_id="KCNQ2",
                variant=VariantRecord("GRCh38", "20", 63442512, None, "G", "A"),
                zygosity=1,
            ),
        ),
    )
    run_matching(alice_case.pk)
    return Match.objects.get(case=alice_case, matched_case=other), other


def test_a_consented_local_case_is_shown_with_all_its_genes(
    alice_client: Client, alice_case: Case, other_institution: Institution, eager_tasks: None
) -> None:
    match, _ = local_pair(alice_case, other_institution, consented=True)

    card = other_patient_card(alice_client.get(detail_url(match)).content.decode())

    assert "As its team shares it" in card
    assert "<dd>Male</dd>" in card
    assert "Congenital onset (HP:0003577)" in card
    assert "<strong>KCNQ2</strong>" in card
    assert "GRCh38 chr20:63442513 G&gt;A" in card


@pytest.mark.parametrize("how", ["unconsented", "withdrawn"])
def test_an_unshared_local_case_shows_nothing_but_its_id_and_contact(
    alice_client: Client,
    alice_case: Case,
    other_institution: Institution,
    eager_tasks: None,
    how: str,
) -> None:
    match, other = local_pair(alice_case, other_institution, consented=how == "withdrawn")
    if how == "withdrawn":
        withdraw_case(other)

    card = other_patient_card(alice_client.get(detail_url(match)).content.decode())

    assert other.public_id in card
    if how == "withdrawn":
        assert "was withdrawn by its institution" in card
    else:
        assert "has not consented to share it" in card
    assert "KCNQ2" not in card
    assert "Congenital onset" not in card
    assert "<dd>Male</dd>" not in card
