"""The matches pages: ranked list, peer searches, one match in detail, triage, and the comparison.

Local matches come from the real matching service on the real HPO; remote ones are stored the
way the federation code stores a peer's answer (a Peer and an outgoing Match with the patient
JSON and the peer's disclaimer), and one test has a real peer on loopback answer a search.
"""

from __future__ import annotations

import datetime
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from matchmaker.cases.models import Case, Institution
from matchmaker.cases.records import (
    ContactRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from matchmaker.casework.models import Match, MatchEvent
from matchmaker.casework.services import withdraw_case
from matchmaker.casework.services.matches import run_matching, triage_match
from matchmaker.federation.models import CaseSearchSchedule, Peer, PeerSearch
from matchmaker.federation.services import add_peer
from matchmaker.reference.ontology import get_hpo, get_phenotype_scorer
from matchmaker.web import comparison
from tests.factories import case_form_data, make_case
from tests.federation.fake_peers import answering, remote_result, serve  # noqa: F401 (fixture)

pytestmark = pytest.mark.django_db

SEIZURE = "HP:0001250"
FOCAL_SEIZURE = "HP:0007359"  # is_a Seizure
TONIC_CLONIC = "HP:0002069"  # is_a Seizure
DEVELOPMENTAL_DELAY = "HP:0001263"
HYPOTONIA = "HP:0001252"
MICROCEPHALY = "HP:0000252"
ALACRIMA = "HP:0000522"
HTMX = {"HTTP_HX_REQUEST": "true"}


def features(observed: tuple[str, ...], excluded: tuple[str, ...] = ()) -> tuple[Any, ...]:
    return tuple(FeatureRecord(hpo_id) for hpo_id in observed) + tuple(
        FeatureRecord(hpo_id, observed=False) for hpo_id in excluded
    )


def add_searchable_peer(name: str, base_url: str = "https://far.example/mme") -> Peer:
    return add_peer(name, base_url=base_url, outbound_token=f"token-for-{name}-0123456789abcdef")


def remote_match(case: Case, peer: Peer, patient_id: str, score: float, **fields: Any) -> Match:
    """An outgoing match as `federation.outbound` records a peer's answer."""
    patient = {
        "id": patient_id,
        "label": f"their {patient_id}",
        "contact": {
            "name": "Dr Far",
            "institution": "Far Genetics",
            "href": "mailto:far@example.org",
        },
        "features": [
            {"id": SEIZURE},
            {"id": "HP:9999999", "label": "A term from a newer release"},
            {"id": MICROCEPHALY, "observed": "no"},
        ],
        "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
    }
    values: dict[str, Any] = {
        "case": case,
        "peer": peer,
        "direction": Match.Direction.OUTGOING,
        "remote_patient_id": patient_id,
        "remote_patient": patient,
        "remote_disclaimer": f"{peer.name} data are for research use only.",
        "score": score,
        "phenotype_score": 0.6,
        "genotype_score": 1.0,
        "explanation": {
            "genes": [
                {
                    "gene_id": "NCBIGene:55768",
                    "gene_symbol": "NGLY1",
                    "same_variant": False,
                    "same_zygosity": False,
                    "note": "same gene; variants not comparable (position or genome build missing)",
                }
            ],
            "conflicts": [],
        },
        "last_seen": timezone.now(),
    }
    values.update(fields)
    return Match.objects.create(**values)


@pytest.fixture
def alice_case(institution: Institution, alice: User) -> Case:
    return make_case(
        institution=institution,
        owner=alice,
        label="alice-proband",
        features=features((SEIZURE, DEVELOPMENTAL_DELAY, HYPOTONIA), (MICROCEPHALY,)),
    )


@pytest.fixture
def carol_case(other_institution: Institution, carol: User) -> Case:
    """Like alice's case, with a more specific seizure, and microcephaly alice excludes."""
    return make_case(
        institution=other_institution,
        owner=carol,
        label="carol-secret-label",
        contact=ContactRecord(name="Dr Carol", email="carol@elsewhere.org"),
        features=features((FOCAL_SEIZURE, DEVELOPMENTAL_DELAY, MICROCEPHALY), (ALACRIMA,)),
    )


@pytest.fixture
def local_match(eager_tasks: None, alice_case: Case, carol_case: Case) -> Match:
    run_matching(alice_case.pk)
    return Match.objects.get(case=alice_case, matched_case=carol_case)


@pytest.fixture
def far_node(db: None) -> Peer:
    return add_searchable_peer("Far Node")


def matches_url(case: Case) -> str:
    return reverse("case-matches", args=[case.public_id])


def detail_url(match: Match) -> str:
    return reverse("match-detail", args=[match.pk])


def triage_url(match: Match) -> str:
    return reverse("match-triage", args=[match.pk])


# The list


def test_the_list_ranks_local_and_remote_matches_with_where_they_came_from(
    alice_client: Client, alice_case: Case, local_match: Match, far_node: Peer
) -> None:
    best = remote_match(alice_case, far_node, "far-best", 0.99)
    worst = remote_match(alice_case, far_node, "far-worst", 0.31)

    response = alice_client.get(matches_url(alice_case))

    assert response.status_code == 200
    html = response.content.decode()
    positions = [html.index(f'href="{detail_url(match)}"') for match in (best, local_match, worst)]
    assert positions == sorted(positions), "best first"
    assert local_match.score < 0.99
    assert "Far Node" in html
    assert "This node" in html
    assert local_match.matched_case.public_id in html
    assert "Dr Carol" in html
    assert "carol-secret-label" not in html, "another clinician's label is never shown"
    assert "Dr Far" in html
    assert "Far Genetics" in html
    assert "<strong>NGLY1</strong>" in html
    assert 'class="badge new"' in html


def test_the_list_filters_by_direction_and_status_and_can_show_removed_matches(
    alice_client: Client, alice_case: Case, local_match: Match, far_node: Peer
) -> None:
    remote = remote_match(alice_case, far_node, "far-1", 0.8, status=Match.Status.CONTACTED)
    gone = remote_match(alice_case, far_node, "far-gone", 0.7, removed_at=timezone.now())

    def listed(**params: str) -> set[str]:
        html = alice_client.get(matches_url(alice_case), params).content.decode()
        return {
            str(match.pk)
            for match in (local_match, remote, gone)
            if f'href="{detail_url(match)}"' in html
        }

    assert listed() == {str(local_match.pk), str(remote.pk)}
    assert listed(direction="local") == {str(local_match.pk)}
    assert listed(direction="outgoing") == {str(remote.pk)}
    assert listed(status="contacted") == {str(remote.pk)}
    assert listed(removed="on") == {str(local_match.pk), str(remote.pk), str(gone.pk)}
    # An unknown filter value is refused next to its field, and nothing is filtered.
    response = alice_client.get(matches_url(alice_case), {"direction": "sideways"})
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert listed(direction="sideways") == {str(local_match.pk), str(remote.pk)}


def test_the_list_runs_a_fixed_number_of_queries_however_many_matches(
    alice_client: Client,
    alice_case: Case,
    other_institution: Institution,
    eager_tasks: None,
    django_assert_max_num_queries: Any,
) -> None:
    for number in range(5):
        make_case(
            institution=other_institution,
            label=f"similar-{number}",
            features=features((FOCAL_SEIZURE, DEVELOPMENTAL_DELAY, HYPOTONIA)),
        )
    run_matching(alice_case.pk)
    peers = [add_searchable_peer(f"Peer {number}") for number in range(3)]
    for number in range(15):
        remote_match(alice_case, peers[number % 3], f"remote-{number}", 0.3 + number / 100)
    for peer in peers:
        PeerSearch.objects.create(
            case=alice_case,
            peer=peer,
            status=PeerSearch.Status.ANSWERED,
            result_count=5,
            requested_at=timezone.now(),
            finished_at=timezone.now(),
        )
    assert Match.objects.filter(case=alice_case).count() == 20

    with django_assert_max_num_queries(11):  # 11th: the new-matches count in the nav
        response = alice_client.get(matches_url(alice_case))

    assert response.status_code == 200
    assert (
        response.content.decode().count('href="/matches/') - 1 == 20
    )  # less the inbox link in the nav


def test_a_clinician_of_another_institution_gets_404_for_every_match_page(
    carol_client: Client, alice_case: Case, local_match: Match, far_node: Peer
) -> None:
    remote = remote_match(alice_case, far_node, "far-1", 0.8)
    schedule_before = list(CaseSearchSchedule.objects.values_list("case_id", "generation"))

    for url in (
        matches_url(alice_case),
        detail_url(local_match),
        detail_url(remote),
        reverse("case-peer-status", args=[alice_case.public_id]),
    ):
        assert carol_client.get(url).status_code == 404, url
    for url in (
        triage_url(local_match),
        triage_url(remote),
        reverse("case-peer-search", args=[alice_case.public_id]),
        reverse("case-rematch", args=[alice_case.public_id]),
    ):
        response = carol_client.post(url, {"status": "dismissed", "notes": "not mine"})
        assert response.status_code == 404, url

    local_match.refresh_from_db()
    remote.refresh_from_db()
    assert (local_match.status, local_match.notes) == (Match.Status.NEW, "")
    assert (remote.status, remote.notes) == (Match.Status.NEW, "")
    assert not MatchEvent.objects.exists()
    assert list(CaseSearchSchedule.objects.values_list("case_id", "generation")) == schedule_before


def test_signed_out_visitors_are_sent_to_log_in(alice_case: Case, local_match: Match) -> None:
    response = Client().get(detail_url(local_match))
    assert response.status_code == 302
    assert reverse("login") in response["Location"]


# One match


def test_a_local_match_shows_the_grid_with_common_ancestors_and_the_conflict(
    alice_client: Client, local_match: Match, carol_case: Case
) -> None:
    response = alice_client.get(detail_url(local_match))

    assert response.status_code == 200
    html = response.content.decode()
    assert carol_case.public_id in html
    assert "carol-secret-label" not in html
    grid = html[
        html.index('<table class="term-grid"') : html.index("</table>", html.index("term-grid"))
    ]
    # Alice's Seizure met Carol's Focal-onset seizure through Seizure, outlined as the best.
    assert re.search(
        r'<th scope="row" class="term-row">Seizure <span class="term-id">HP:0001250', grid
    )
    assert re.search(
        r'class="term-column[^"]*"[^>]*><span class="term-label">Focal-onset seizure', grid
    )
    assert re.search(
        r'<td class="sim sim-\d+ best"[^>]*>[0-9.]+<span class="via">.*via Seizure</span>', grid
    )
    assert "common ancestor Seizure (HP:0001250" in grid
    # The same term on both sides: similarity 1, the darkest shade.
    assert re.search(
        r'<td class="sim sim-10 best"[^>]*title="Global developmental delay \u2013 Global developmental delay: similarity 1.00',
        grid,
    )
    # Carol observes microcephaly, which Alice excludes: highlighted in the grid and listed.
    assert re.search(
        r'class="term-column conflict"[^>]*><span class="term-label">Microcephaly', grid
    )
    assert "<strong>Conflict:</strong>" in html
    assert re.search(r"excludes <strong>Microcephaly</strong>", html)
    assert 'class="conflict-term">Microcephaly' in html
    # Which term met which, from the stored explanation.
    assert "through <em>Seizure</em>" in html
    assert "<strong>NGLY1</strong>" in html
    # Seizure, developmental delay and hypotonia resemble hundreds of known diseases about
    # equally: the default gives the disease bridge no share in this score, and the page says so
    # rather than offering diseases as a reason.
    assert local_match.explanation["disease_bridge_share"] == 0
    assert local_match.explanation["shared_diseases"] == []
    assert "Not used for this score" in diseases_section(html)


def diseases_section(html: str) -> str:
    start = html.index('id="diseases-heading"')
    return html[start : html.index("</section>", start)]


def test_the_known_diseases_both_resemble_are_listed_with_the_bridge_share(
    eager_tasks: None,
    alice_client: Client,
    institution: Institution,
    other_institution: Institution,
    alice: User,
    carol: User,
) -> None:
    # NGLY1-like: developmental delay, hypotonia, elevated transaminases, alacrima, ...: few
    # known diseases look like this, so the bridge has a share.
    ngly1_like = features(("HP:0001263", "HP:0001252", "HP:0100022", "HP:0000522", "HP:0002910"))
    ours = make_case(institution=institution, owner=alice, label="ours", features=ngly1_like)
    theirs = make_case(
        institution=other_institution, owner=carol, label="theirs", features=ngly1_like
    )
    run_matching(ours.pk)
    match = Match.objects.get(case=ours, matched_case=theirs)

    section = diseases_section(alice_client.get(detail_url(match)).content.decode())

    share = match.explanation["disease_bridge_share"]
    assert 0 < share <= 0.6
    assert f"{round(100 * share)}% of the phenotype score" in section
    shared = match.explanation["shared_diseases"]
    assert shared
    assert f'<span class="term-id">{shared[0]["disease_id"]}</span>' in section
    assert escape(shared[0]["disease_name"]) in section


def test_a_remote_match_shows_the_peer_its_disclaimer_its_contact_and_unknown_terms(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(
        alice_case,
        far_node,
        "far-7",
        0.8,
        remote_patient={
            "id": "far-7",
            "contact": {"name": "Dr Far", "href": "javascript:alert(1)", "email": "far@x.org"},
            "features": [
                {"id": FOCAL_SEIZURE, "observed": "yes"},
                {"id": "HP:9999999", "label": "A term from a newer release"},
                {"id": MICROCEPHALY, "observed": "no"},
                "not a feature",
            ],
            "genomicFeatures": [
                {"gene": {"id": "NGLY1"}, "zygosity": 2},
                {"gene": "broken"},
            ],
        },
    )

    response = alice_client.get(detail_url(match))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Far Node" in html
    assert "Disclaimer from Far Node" in html
    assert "Far Node data are for research use only." in html
    assert "Dr Far" in html
    assert "mailto:far@x.org" in html
    assert "javascript:" not in html, "a peer's link is only shown when it is http(s) or mailto"
    assert "HP:9999999" in html
    assert "A term from a newer release" in html
    assert "Not in our HPO release" in html
    assert "via Seizure" in html
    assert "homozygous" in html


def test_a_variant_reads_as_the_same_position_on_the_case_page_and_the_match_page(
    alice_client: Client,
    alice: User,
    bob: User,
    institution: Institution,
    far_node: Peer,
    eager_tasks: None,
) -> None:
    # Typed VCF-style (1-based) on the case form: stored 0-based, as MME wants it.
    typed = {
        "genes-0-assembly": "GRCh38",
        "genes-0-chromosome": "3",
        "genes-0-position": "25750426",
        "genes-0-reference_bases": "a",
        "genes-0-alternate_bases": "g",
    }
    response = alice_client.post("/cases/new/", case_form_data(label="fam51-proband", **typed))
    assert response.status_code == 302
    ours = Case.objects.get(label="fam51-proband")
    assert ours.genomic_features.get().start == 25750425
    # Bob's case (same institution) and a peer's patient hold the same variant, 0-based.
    same = VariantRecord("GRCh38", "3", 25750425, reference_bases="A", alternate_bases="G")
    theirs = make_case(
        institution=institution,
        owner=bob,
        label="fam52-proband",
        genomic_features=(GenomicFeatureRecord(gene_id="NGLY1", variant=same, zygosity=2),),
    )
    run_matching(ours.pk)
    local = Match.objects.get(case=ours, matched_case=theirs)
    peer_variant = {
        "assembly": "GRCh38",
        "referenceName": "3",
        "start": 25750425,
        "referenceBases": "A",
        "alternateBases": "G",
    }
    remote = remote_match(
        ours,
        far_node,
        "far-51",
        0.9,
        remote_patient={
            "id": "far-51",
            "genomicFeatures": [{"gene": {"id": "NGLY1"}, "variant": peer_variant}],
        },
    )
    shown = "GRCh38 chr3:25750426 A&gt;G"

    case_page = alice_client.get(reverse("case-detail", args=[ours.public_id])).content.decode()
    local_page = alice_client.get(detail_url(local)).content.decode()
    remote_page = alice_client.get(detail_url(remote)).content.decode()
    edit_page = alice_client.get(reverse("case-edit", args=[ours.public_id])).content.decode()

    assert shown in case_page
    # Ours and bob's in the shared genes, and bob's again in the other patient's card.
    assert local_page.count(shown) == 3
    assert remote_page.count(shown) == 3  # ours and the peer's, the peer's in its card too
    for page in (case_page, local_page, remote_page):
        assert "25750425" not in page
    assert 'value="25750426"' in edit_page


def test_a_match_with_nothing_comparable_still_renders(
    alice_client: Client, alice_case: Case, far_node: Peer
) -> None:
    match = remote_match(
        alice_case, far_node, "far-8", 0.5, remote_patient={"id": "far-8"}, explanation=[]
    )

    response = alice_client.get(detail_url(match))

    assert response.status_code == 200
    assert "nothing to compare term by term" in response.content.decode()


def test_an_explanation_stored_before_the_bridge_share_says_half(
    alice_client: Client, local_match: Match
) -> None:
    # Recorded by an older release, whose bridge always weighed half of the phenotype score.
    kept = {k: v for k, v in local_match.explanation.items() if k != "disease_bridge_share"}
    disease = {"disease_id": "OMIM:100100", "disease_name": "Prune belly", "contribution": 0.5}
    local_match.explanation = {**kept, "shared_diseases": [disease]}
    local_match.save(update_fields=["explanation"])

    section = diseases_section(alice_client.get(detail_url(local_match)).content.decode())

    assert "Half of the phenotype score" in section
    assert "Prune belly" in section


def test_the_detail_page_runs_a_fixed_number_of_queries_however_long_the_history(
    alice_client: Client,
    alice: User,
    bob: User,
    local_match: Match,
    django_assert_max_num_queries: Any,
) -> None:
    for number in range(12):
        triage_match(
            local_match,
            status=("reviewed", "contacted")[number % 2],
            notes=f"step {number}",
            by=(alice, bob)[number % 2],
        )

    with django_assert_max_num_queries(9):
        response = alice_client.get(detail_url(local_match))

    assert response.status_code == 200
    assert response.content.decode().count('class="history-notes"') == 12


# Triage


def test_triage_changes_status_and_notes_records_history_and_shows_it(
    alice_client: Client, alice: User, local_match: Match
) -> None:
    response = alice_client.post(
        triage_url(local_match), {"status": "contacted", "notes": "Wrote to Dr Carol."}
    )

    assert response.status_code == 302
    assert response["Location"] == detail_url(local_match)
    local_match.refresh_from_db()
    assert (local_match.status, local_match.notes) == ("contacted", "Wrote to Dr Carol.")
    [event] = MatchEvent.objects.filter(match=local_match)
    assert (event.by, event.from_status, event.to_status) == (alice, "new", "contacted")

    alice_client.post(triage_url(local_match), {"status": "reviewed", "notes": "Not the same."})
    page = alice_client.get(detail_url(local_match)).content.decode()
    history = page[page.index('<ol class="history"') :]
    assert "Saved: reviewed." in page
    assert history.index("Not the same.") < history.index("Wrote to Dr Carol."), "newest first"
    assert "alice" in history
    assert re.search(r'value="reviewed"[^>]*checked', page), "the form shows the current status"


def test_triage_with_htmx_swaps_the_form_and_history_in_place(
    alice_client: Client, local_match: Match
) -> None:
    response = alice_client.post(
        triage_url(local_match), {"status": "dismissed", "notes": ""}, **HTMX
    )

    assert response.status_code == 200
    html = response.content.decode()
    assert '<section id="triage"' in html
    assert "<html" not in html
    assert "Saved: dismissed." in html
    assert 'id="match-status-badge" class="badge dismissed" hx-swap-oob="true"' in html
    local_match.refresh_from_db()
    assert local_match.status == "dismissed"


@pytest.mark.parametrize("htmx", [False, True])
def test_an_invalid_triage_status_is_refused_next_to_the_field_and_changes_nothing(
    alice_client: Client, local_match: Match, htmx: bool
) -> None:
    response = alice_client.post(
        triage_url(local_match),
        {"status": "forgotten", "notes": "should not be kept"},
        **(HTMX if htmx else {}),
    )

    assert response.status_code == (200 if htmx else 400)
    html = response.content.decode()
    assert re.search(
        r'<legend>Status</legend>.*<p class="error" id="triage_status_error">Select a valid choice',
        html,
        re.DOTALL,
    )
    local_match.refresh_from_db()
    assert (local_match.status, local_match.notes) == ("new", "")
    assert not MatchEvent.objects.exists()


def test_notes_longer_than_the_limit_are_refused_next_to_the_notes(
    alice_client: Client, local_match: Match
) -> None:
    response = alice_client.post(
        triage_url(local_match), {"status": "reviewed", "notes": "x" * 10_001}
    )

    assert response.status_code == 400
    assert re.search(
        r'id="id_notes_error">Ensure this value has at most 10000', response.content.decode()
    )
    local_match.refresh_from_db()
    assert local_match.status == "new"


# Searches at the peers


def test_search_again_queues_a_search_of_a_shared_case(
    alice_client: Client,
    institution: Institution,
    alice: User,
    far_node: Peer,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        case = make_case(institution=institution, owner=alice, consented=True)
    before = CaseSearchSchedule.objects.get(case=case).generation

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = alice_client.post(reverse("case-peer-search", args=[case.public_id]), **HTMX)

    assert response.status_code == 200
    schedule = CaseSearchSchedule.objects.get(case=case)
    assert schedule.generation == before + 1
    assert schedule.due_at is not None
    assert schedule.due_at <= timezone.now()
    assert len(queued) == 1, "the search task is queued after commit"
    html = response.content.decode()
    assert "Search requested" in html
    assert 'hx-trigger="every 2s"' in html, "the block polls until the search has started"


def test_search_again_asks_a_real_peer_and_the_answer_shows_up(
    alice_client: Client,
    institution: Institution,
    alice: User,
    eager_tasks: None,
    serve: Any,  # noqa: F811 (the fixture imported above)
    django_capture_on_commit_callbacks: Any,
) -> None:
    node = serve(answering(remote_result("far-42", 0.9)))
    add_searchable_peer("Loopback Node", base_url=node.base_url)
    with django_capture_on_commit_callbacks(execute=False):
        case = make_case(institution=institution, owner=alice, consented=True)

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("case-peer-search", args=[case.public_id]))

    assert response.status_code == 302
    [search] = PeerSearch.objects.filter(case=case)
    assert (search.peer.name, search.status, search.result_count) == (
        "Loopback Node",
        "answered",
        1,
    )
    page = alice_client.get(response["Location"]).content.decode()
    assert "Search requested at every enabled peer" in page
    assert '<span class="badge answered">Answered</span>' in page
    assert 'hx-trigger="every 2s"' not in page
    assert "far-42" in page
    assert "Loopback Node" in page


@pytest.mark.parametrize("reason", ["unconsented", "withdrawn", "no peers"])
def test_search_again_is_refused_with_a_reason_when_the_case_cannot_be_sent(
    alice_client: Client,
    institution: Institution,
    alice: User,
    reason: str,
    django_capture_on_commit_callbacks: Any,
) -> None:
    with django_capture_on_commit_callbacks(execute=False):
        case = make_case(institution=institution, owner=alice, consented=reason != "unconsented")
        if reason == "withdrawn":
            withdraw_case(case)
    if reason != "no peers":
        add_searchable_peer("Far Node")
    before = list(CaseSearchSchedule.objects.filter(case=case).values_list("generation", flat=True))

    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = alice_client.post(
            reverse("case-peer-search", args=[case.public_id]), follow=True
        )

    assert response.status_code == 200
    html = response.content.decode()
    expected = {
        "unconsented": "no consent to external matching",
        "withdrawn": "is withdrawn",
        "no peers": "No peer nodes are enabled",
    }[reason]
    assert expected in html
    assert 'class="message error"' in html
    after = list(CaseSearchSchedule.objects.filter(case=case).values_list("generation", flat=True))
    assert after == before
    assert not queued


def test_the_peer_status_block_polls_only_while_a_search_is_waiting(
    alice_client: Client, alice_case: Case
) -> None:
    now = timezone.now()
    peers = [add_searchable_peer(name) for name in ("Alpha", "Beta", "Gamma")]
    waiting = PeerSearch.objects.create(
        case=alice_case, peer=peers[0], status="waiting", requested_at=now
    )
    PeerSearch.objects.create(
        case=alice_case, peer=peers[1], status="answered", result_count=3,
        requested_at=now, finished_at=now,
    )  # fmt: skip
    PeerSearch.objects.create(
        case=alice_case, peer=peers[2], status="failed", detail="HTTP 502 from Gamma",
        requested_at=now, finished_at=now,
    )  # fmt: skip
    url = reverse("case-peer-status", args=[alice_case.public_id])

    html = alice_client.get(url).content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert f'hx-get="{url}?seen=' in html
    for status in ("Waiting", "Answered", "Failed"):
        assert f">{status}</span>" in html
    assert "HTTP 502 from Gamma" in html
    assert "<html" not in html

    PeerSearch.objects.filter(pk=waiting.pk).update(status="skipped", finished_at=now)
    html = alice_client.get(url).content.decode()
    assert "hx-trigger" not in html
    assert "hx-get" not in html
    assert ">Skipped</span>" in html


def test_a_search_request_nobody_started_for_long_is_not_polled_for_ever(
    alice_client: Client, alice_case: Case
) -> None:
    CaseSearchSchedule.objects.update_or_create(
        case=alice_case,
        defaults={"generation": 3, "due_at": timezone.now() - datetime.timedelta(hours=2)},
    )
    html = alice_client.get(reverse("case-peer-status", args=[alice_case.public_id])).content
    assert b"hx-trigger" not in html


def test_match_again_locally_finds_a_new_similar_case(
    alice_client: Client,
    alice_case: Case,
    carol_case: Case,
    eager_tasks: None,
    django_capture_on_commit_callbacks: Any,
) -> None:
    assert not Match.objects.filter(case=alice_case).exists()

    with django_capture_on_commit_callbacks(execute=True):
        response = alice_client.post(reverse("case-rematch", args=[alice_case.public_id]))

    assert response.status_code == 302
    assert Match.objects.filter(case=alice_case, matched_case=carol_case).exists()
    page = alice_client.get(response["Location"]).content.decode()
    assert "Matching against this node&#x27;s cases again" in page
    assert carol_case.public_id in page


# The comparison, on the real HPO


@pytest.fixture
def hpo() -> Any:
    return get_hpo()


@pytest.fixture
def information_content() -> Any:
    return get_phenotype_scorer().information_content


def test_a_term_and_its_parent_meet_at_the_parent(hpo: Any, information_content: Any) -> None:
    similarity = comparison.term_similarity(hpo, information_content, FOCAL_SEIZURE, SEIZURE)

    assert similarity.common_ancestor.hpo_id == SEIZURE
    assert similarity.common_ancestor.label == "Seizure"
    assert 0.0 < similarity.similarity < 1.0
    assert similarity.common_ancestor_ic == pytest.approx(
        information_content[hpo.index_of(SEIZURE)]
    )


def test_identical_terms_have_similarity_one_and_siblings_meet_at_their_parent(
    hpo: Any, information_content: Any
) -> None:
    same = comparison.term_similarity(hpo, information_content, FOCAL_SEIZURE, FOCAL_SEIZURE)
    siblings = comparison.term_similarity(hpo, information_content, FOCAL_SEIZURE, TONIC_CLONIC)

    assert same.similarity == 1.0
    assert same.common_ancestor.hpo_id == FOCAL_SEIZURE
    assert siblings.common_ancestor.hpo_id == SEIZURE
    assert siblings.similarity < 1.0


def test_the_grid_outlines_each_rows_best_match_and_puts_it_on_the_diagonal(
    hpo: Any, information_content: Any
) -> None:
    result = comparison.compare_profiles(
        hpo,
        information_content,
        comparison.Profile(observed=(SEIZURE, DEVELOPMENTAL_DELAY)),
        comparison.Profile(observed=(ALACRIMA, DEVELOPMENTAL_DELAY, FOCAL_SEIZURE)),
    )

    assert [row.term.hpo_id for row in result.rows] == [SEIZURE, DEVELOPMENTAL_DELAY]
    assert [column.term.hpo_id for column in result.columns] == [
        FOCAL_SEIZURE,
        DEVELOPMENTAL_DELAY,
        ALACRIMA,
    ]
    seizure, delay = result.rows
    assert seizure.best is not None
    assert seizure.best.column.hpo_id == FOCAL_SEIZURE
    assert seizure.best.common_ancestor.hpo_id == SEIZURE
    assert delay.best is not None
    assert delay.best.column.hpo_id == DEVELOPMENTAL_DELAY
    assert delay.best.similarity == 1.0
    assert delay.best.shade == comparison.SHADES
    assert [cell.is_best for cell in seizure.cells] == [True, False, False]
    assert all(0.0 <= cell.similarity <= 1.0 for row in result.rows for cell in row.cells)
    assert result.hidden_rows == result.hidden_columns == 0


def test_the_grid_agrees_with_the_scorers_explanation(
    local_match: Match, hpo: Any, information_content: Any
) -> None:
    result = comparison.compare_profiles(
        hpo,
        information_content,
        comparison.profile_of_case(local_match.case),
        comparison.other_profile_of(local_match),
    )

    explained = {
        pair["query_term"]: (pair["case_term"], pair["common_ancestor"])
        for pair in local_match.explanation["term_matches"]
    }
    drawn = {
        row.term.hpo_id: (
            (row.best.column.hpo_id, row.best.common_ancestor.hpo_id)
            if row.best is not None
            else (None, None)
        )
        for row in result.rows
    }
    assert drawn == explained
    # Hypotonia meets carol's terms only at Phenotypic abnormality: no close counterpart,
    # neither drawn nor stored.
    assert explained[HYPOTONIA] == (None, None)


def test_conflicts_exclusions_unknown_and_old_ids_are_reported_not_fatal(
    hpo: Any, information_content: Any
) -> None:
    old_id, current_id = next(
        (old, new) for old, new in sorted(hpo.replacements.items()) if old != new
    )
    result = comparison.compare_profiles(
        hpo,
        information_content,
        comparison.Profile(observed=(FOCAL_SEIZURE, "HP:9999999", old_id), excluded=(ALACRIMA,)),
        comparison.Profile(
            observed=(ALACRIMA, "not-an-id"),
            excluded=(SEIZURE,),
            labels={"not-an-id": "something"},
        ),
    )

    assert [row.term.hpo_id for row in result.rows] == [FOCAL_SEIZURE, current_id]
    assert [(t.hpo_id, t.known) for t in result.own_unknown] == [("HP:9999999", False)]
    assert [(t.hpo_id, t.label) for t in result.other_unknown] == [("not-an-id", "something")]
    conflicts = {(c.observed.hpo_id, c.excluded.hpo_id, c.observed_in) for c in result.conflicts}
    assert conflicts == {(FOCAL_SEIZURE, SEIZURE, "own"), (ALACRIMA, ALACRIMA, "other")}
    assert result.rows[0].in_conflict
    assert not result.rows[1].in_conflict
    assert result.columns[0].in_conflict
    [other_excluded] = result.other_excluded
    assert [t.hpo_id for t in other_excluded.conflicts_with] == [FOCAL_SEIZURE]
    [own_excluded] = result.own_excluded
    assert [t.hpo_id for t in own_excluded.conflicts_with] == [ALACRIMA]


def test_the_grid_is_capped_and_says_how_much_it_left_out(
    hpo: Any, information_content: Any
) -> None:
    many = tuple(hpo.term_ids[1000:1050])

    result = comparison.compare_profiles(
        hpo,
        information_content,
        comparison.Profile(observed=many),
        comparison.Profile(observed=many),
    )

    assert len(result.rows) == len(result.columns) == comparison.MAX_GRID_TERMS
    assert result.hidden_rows == result.hidden_columns == 10
    assert all(row.best is not None and row.best.similarity == 1.0 for row in result.rows)


def test_a_peers_patient_in_any_shape_reads_without_crashing() -> None:
    assert comparison.profile_of_mme_patient(None) == comparison.Profile(observed=())
    assert comparison.profile_of_mme_patient({"features": "nope"}).observed == ()
    profile = comparison.profile_of_mme_patient(
        {"features": [{"id": SEIZURE}, {"id": ALACRIMA, "observed": "no"}, {"id": 7}, []]}
    )
    assert (profile.observed, profile.excluded) == ((SEIZURE,), (ALACRIMA,))
    assert comparison.safe_href("javascript:alert(1)") == ""
    assert comparison.safe_href(" mailto:a@b.org ") == "mailto:a@b.org"
    assert comparison.safe_href(["https://x.org"]) == ""


# Marfan syndrome's hallmarks (OMIM:154700): a patient with all of them fits it closely.
MARFAN_LIKE = (
    "HP:0001166",  # arachnodactyly
    "HP:0001083",  # ectopia lentis
    "HP:0002616",  # aortic root aneurysm
    "HP:0001519",  # disproportionate tall stature
    "HP:0000768",  # pectus carinatum
    "HP:0001634",  # mitral valve prolapse
    "HP:0002107",  # pneumothorax
    "HP:0000545",  # myopia
)
# Two of them, with features Marfan syndrome does not have.
PARTLY_MARFAN = ("HP:0001166", "HP:0001519", "HP:0001250", "HP:0000252", "HP:0001263")


def closer_sentence(html: str) -> str:
    sentence = html[html.index('id="closer-disease"') :]
    return sentence[: sentence.index("</p>")]


def test_a_match_lowered_because_a_known_disease_explains_the_other_patient_says_which(
    eager_tasks: None,
    settings: Any,
    alice_client: Client,
    institution: Institution,
    other_institution: Institution,
    alice: User,
    carol: User,
) -> None:
    settings.MATCHING_MIN_SCORE = 0.0
    ours = make_case(
        institution=institution, owner=alice, label="ours", features=features(PARTLY_MARFAN)
    )
    theirs = make_case(
        institution=other_institution, owner=carol, label="theirs", features=features(MARFAN_LIKE)
    )
    run_matching(ours.pk)
    match = Match.objects.get(case=ours, matched_case=theirs)

    closer = match.explanation["closer_disease"]
    assert (closer["disease_id"], closer["patient"]) == ("OMIM:154700", "other")
    assert closer["patient_fit"] > closer["query_fit"]
    assert closer["lowered_by"] == pytest.approx(
        0.2 * (closer["patient_fit"] - closer["query_fit"]), abs=0.011
    )
    html = alice_client.get(detail_url(match)).content.decode()
    sentence = closer_sentence(html)
    assert escape(closer["disease_name"]) in sentence
    assert "The other patient resembles" in sentence
    assert "more closely than this patient does" in sentence
    assert f"lowered by {closer['lowered_by']:.2f}" in sentence
    # Carol's copy holds the same score (alice's search computed it): from her side, it is her
    # patient that the known disease explains better.
    mirrored = Match.objects.get(case=theirs, matched_case=ours)
    assert mirrored.score == match.score
    assert mirrored.explanation["closer_disease"] == {**closer, "patient": "this"}
    assert mirrored.explanation["scored_from"] == "other"
    assert mirrored.explanation["disease_bridge_share"] == match.explanation["disease_bridge_share"]
    carol_client = Client()
    carol_client.force_login(carol)
    sentence = closer_sentence(carol_client.get(detail_url(mirrored)).content.decode())
    assert "This patient resembles" in sentence
    assert "more closely than the other patient does" in sentence
    assert f"lowered by {closer['lowered_by']:.2f}" in sentence
    # A patient with our patient's very features fits every known disease as ours does:
    # nothing is taken and nothing is said.
    twin = make_case(
        institution=other_institution, owner=carol, label="twin", features=features(PARTLY_MARFAN)
    )
    run_matching(ours.pk)
    twin_match = Match.objects.get(case=ours, matched_case=twin)
    assert twin_match.explanation["closer_disease"] is None
    assert 'id="closer-disease"' not in alice_client.get(detail_url(twin_match)).content.decode()


@pytest.mark.parametrize(
    ("scored_from", "share", "expected"),
    [
        ("peer", 0.3, "In this node's own reading (the score is the peer's), 30% of the phenotype"),
        ("other", 0.3, "the other patient's phenotype resembles most are among those this"),
        ("owner", 0.3, "this patient's phenotype resembles most are among those the other's"),
        ("other", 0.0, "Not used for this score: the other patient's phenotype (the score is"),
        ("owner", 0.0, "Not used for this score: this patient's phenotype resembles many"),
    ],
)
def test_the_bridge_is_described_from_the_side_whose_search_computed_the_score(
    alice_client: Client,
    alice_case: Case,
    far_node: Peer,
    scored_from: str,
    share: float,
    expected: str,
) -> None:
    disease = {"disease_id": "OMIM:615273", "disease_name": "NGLY1 deficiency", "contribution": 0.2}
    match = remote_match(alice_case, far_node, "p1", 0.7)
    match.explanation = {
        **match.explanation,
        "scored_from": scored_from,
        "disease_bridge_share": share,
        "shared_diseases": [disease] if share else [],
    }
    match.save()

    section = diseases_section(alice_client.get(detail_url(match)).content.decode())

    assert expected in " ".join(section.split())
