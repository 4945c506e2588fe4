"""No stored XSS: markup stored through the REST API and sent by peers stays text in every page.

Cases are stored with script-bearing labels and contacts through the REST API (as a hospital
script would), a peer's query with markup in its patient is answered through the MME API (so
the incoming matches are recorded by the real code), and a peer's answer with markup and
`javascript:` links is stored as an outgoing match. Each page that shows them is then opened in
headless Chromium: no dialog may open, the markup must read as text, and no `javascript:` link
(or any inline event handler) may exist.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from playwright.sync_api import Page

from matchmaker.cases.models import Case
from matchmaker.casework.models import Match
from matchmaker.federation.services import add_peer
from matchmaker.web.services import create_api_token
from tests.web.browser.conftest import log_in

pytestmark = pytest.mark.django_db(transaction=True)

LABEL = "<img src=x onerror=alert('label')>"
OTHER_LABEL = "<script>alert('other label')</script>"
CONTACT_NAME = "<svg onload=alert('contact')>Dr Evil</svg>"
CONTACT_INSTITUTION = '"><b onmouseover=alert(1)>Institute</b>'
CONTACT_HREF = "https://example.org/\"><script>alert('href')</script>"
PEER_TOKEN = "xss-peer-token-7a1c9e3b5d2f4a6c8e0b"

# Every way a page could run script from stored data.
_SCRIPT_SINKS = """() => {
  const found = [];
  for (const element of document.querySelectorAll('*')) {
    for (const attribute of element.attributes) {
      const name = attribute.name.toLowerCase();
      const value = attribute.value.trim().toLowerCase();
      if (name.startsWith('on')) found.push(`${element.tagName} ${name}`);
      if (['href', 'src', 'action', 'formaction', 'xlink:href'].includes(name)
          && (value.startsWith('javascript:') || value.startsWith('data:text/html'))) {
        found.push(`${element.tagName} ${name}=${value}`);
      }
    }
  }
  for (const script of document.querySelectorAll('script')) {
    if (/alert\\(/.test(script.textContent)) found.push('inline script: ' + script.textContent);
  }
  return found;
}"""


def _remote_patient(patient_id: str) -> dict[str, Any]:
    """A peer's patient with markup wherever a string goes, and a `javascript:` contact link."""
    return {
        "id": patient_id,
        "label": "<img src=x onerror=alert('remote label')>",
        "contact": {
            "name": "<img src=x onerror=alert('remote contact')>",
            "institution": "<iframe src=javascript:alert('inst')></iframe>",
            "href": "javascript:alert('remote href')",
            "email": "<b>x@example.org</b>",
        },
        "features": [
            {"id": "HP:0001250", "label": "<script>alert('feature')</script>"},
            {"id": "HP:0001263", "observed": "yes", "label": "javascript:alert(2)"},
        ],
        "genomicFeatures": [
            {
                "gene": {"id": "<img src=x onerror=alert('gene')>"},
                "variant": {
                    "assembly": "GRCh37",
                    "referenceName": "<b>3</b>",
                    "start": 25775421,
                    "referenceBases": "<i>C</i>",
                    "alternateBases": "T",
                },
            },
            {"gene": {"id": "NGLY1"}},
        ],
        "disorders": [{"id": "OMIM:615273", "label": "<svg onload=alert('disorder')>"}],
    }


@pytest.fixture
def hostile_data(alice: User, institution: Any, eager_tasks: None) -> dict[str, Any]:
    api = Client()
    headers = {"Authorization": f"Token {create_api_token(alice, name='lims')[1]}"}
    public_ids = []
    for label in (LABEL, OTHER_LABEL):
        body = {
            "label": label,
            "externalMatchingConsent": True,
            "features": [{"id": "HP:0001250"}, {"id": "HP:0001263"}],
            "genomicFeatures": [{"gene": {"id": "NGLY1"}, "zygosity": 2}],
            "contact": {
                "name": CONTACT_NAME,
                "institution": CONTACT_INSTITUTION,
                "href": CONTACT_HREF,
            },
        }
        response = api.post(
            "/api/v1/cases/", json.dumps(body), content_type="application/json", headers=headers
        )
        assert response.status_code == 201, response.content
        public_ids.append(response.json()["publicId"])
    case = Case.objects.get(public_id=public_ids[0])

    # A peer asks about its patient: the incoming matches are recorded by the real code.
    peer = add_peer(
        "<b>Evil</b> peer",
        base_url="https://evil.example/mme",
        inbound_token=PEER_TOKEN,
        outbound_token="token-we-send-to-the-evil-peer-0001",
    )
    patient = _remote_patient("<i>incoming</i>")
    # What the MME schema and our checks let through: markup in free text only.
    patient["contact"]["href"] = "https://evil.example/contact"
    patient["contact"]["email"] = "evil@example.org"
    patient["genomicFeatures"] = [{"gene": {"id": "NGLY1", "_label": "<script>x</script>"}}]
    answer = Client().post(
        "/mme/match",
        json.dumps({"patient": patient}),
        content_type="application/vnd.ga4gh.matchmaker.v1.1+json",
        headers={"X-Auth-Token": PEER_TOKEN},
    )
    assert answer.status_code == 200, answer.content
    incoming = Match.objects.get(case=case, direction=Match.Direction.INCOMING)

    # A peer's answer to our query, stored as it came (with a javascript: link).
    outgoing = Match.objects.create(
        case=case,
        peer=peer,
        direction=Match.Direction.OUTGOING,
        remote_patient_id="<i>outgoing</i>",
        remote_patient=_remote_patient("<i>outgoing</i>"),
        remote_disclaimer="<script>alert('disclaimer')</script>",
        score=0.9,
        phenotype_score=0.9,
        genotype_score=0.8,
        explanation={"note": "<img src=x onerror=alert('note')>"},
        last_seen=timezone.now(),
        notes="<img src=x onerror=alert('notes')>",
    )
    local = Match.objects.get(case=case, direction=Match.Direction.LOCAL)
    return {"case": case, "matches": [local, incoming, outgoing]}


def _visit(page: Page, path: str, dialogs: list[str]) -> str:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(150)  # an <img onerror> fires after its load fails
    assert not dialogs, f"{path}: a dialog opened: {dialogs}"
    assert page.evaluate(_SCRIPT_SINKS) == [], path
    return page.inner_text("body")


def test_markup_from_the_rest_api_and_from_peers_is_shown_as_text(
    page: Page, alice: User, hostile_data: dict[str, Any]
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    log_in(page, alice)
    case = hostile_data["case"]

    listed = _visit(page, "/cases/", dialogs)
    assert LABEL in listed
    assert OTHER_LABEL in listed

    detail = _visit(page, f"/cases/{case.public_id}/", dialogs)
    assert LABEL in detail
    assert CONTACT_NAME in detail

    matches = _visit(page, f"/cases/{case.public_id}/matches/", dialogs)
    assert "<i>outgoing</i>" in matches or "outgoing" in matches

    _visit(page, f"/cases/{case.public_id}/edit/", dialogs)
    assert page.get_by_label("Label").input_value() == LABEL

    for match in hostile_data["matches"]:
        shown = _visit(page, f"/matches/{match.pk}/", dialogs)
        if match.direction == Match.Direction.LOCAL:
            # The other team's label never shows; its contact does, as text.
            assert OTHER_LABEL not in shown
            assert CONTACT_NAME in shown
        else:
            assert "<img src=x onerror=alert('remote contact')>" in shown
    # The refused link is not shown as one; the http(s) links that are keep their quotes
    # inside the attribute.
    for href in page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)"):
        assert not href.lower().startswith("javascript:")
