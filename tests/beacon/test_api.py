"""The Beacon v2 API through HTTP: every answer validates against the specification's schemas,
counts agree with counts computed independently from the stored cases, and no caller learns more
than it was granted."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from matchmaker.beacon.models import BeaconClient, BeaconQuery
from matchmaker.cases.models import Case
from matchmaker.cases.selectors import shareable_cases
from matchmaker.casework.services import record_consent
from matchmaker.reference.ontology import get_hpo
from tests.beacon.conftest import BOOLEAN_TOKEN, COUNT_TOKEN, RESPONSES, assert_valid

pytestmark = pytest.mark.django_db


def _get(client: Client, path: str, token: str | None = None) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return client.get(path, headers=headers)


def test_framework_endpoints_answer_valid_documents(
    client: Client, count_client: BeaconClient
) -> None:
    for path, schema in (
        ("/beacon/", "beaconInfoResponse.json"),
        ("/beacon/info", "beaconInfoResponse.json"),
        ("/beacon/service-info", "ga4gh-service-info-1-0-0-schema.json"),
        ("/beacon/map", "beaconMapResponse.json"),
        ("/beacon/configuration", "beaconConfigurationResponse.json"),
        ("/beacon/entry_types", "beaconEntryTypesResponse.json"),
        ("/beacon/datasets", "beaconCollectionsResponse.json"),
    ):
        response = _get(client, path)
        assert response.status_code == 200, (path, response.content)
        assert_valid(response.json(), RESPONSES + schema)
    service = _get(client, "/beacon/service-info").json()
    assert service["type"] == {"group": "org.ga4gh", "artifact": "beacon", "version": "v2.0.0"}
    assert BeaconQuery.objects.filter(endpoint="map", status_code=200).count() == 1


def _cases() -> list[dict[str, Any]]:
    """Every shareable case as plain sets, read straight from the tables."""
    rows = []
    for case in shareable_cases().prefetch_related("features", "genomic_features", "disorders"):
        rows.append(
            {
                "observed": {f.hpo_id for f in case.features.all() if f.observed},
                "excluded": {f.hpo_id for f in case.features.all() if not f.observed},
                "genes": {g.gene_id for g in case.genomic_features.all()},
                "symbols": {g.gene_symbol for g in case.genomic_features.all()},
                "diseases": {d.disorder_id for d in case.disorders.all()},
                "sex": case.sex,
                "variants": {
                    (g.reference_name, g.start, g.reference_bases, g.alternate_bases)
                    for g in case.genomic_features.all()
                    if g.start is not None
                },
            }
        )
    return rows


def _has(case: dict[str, Any], hpo_id: str, *, descendants: bool) -> bool:
    ontology = get_hpo()
    wanted = ontology.descendants(hpo_id) if descendants else {hpo_id}
    return bool(case["observed"] & wanted) and not (case["excluded"] & ontology.ancestors(hpo_id))


def _count(ask: Callable[..., Any], filters: list[Any], **query: Any) -> int:
    response = ask("individuals", {"filters": filters, "requestedGranularity": "count", **query})
    assert response.status_code == 200, response.content
    body = response.json()
    assert_valid(body, RESPONSES + "beaconCountResponse.json")
    assert body["meta"]["returnedGranularity"] == "count"
    return int(body["responseSummary"]["numTotalResults"])


def test_individual_counts_agree_with_the_stored_cases(
    ask: Callable[..., Any], count_client: BeaconClient, dev_sample: int, settings: Any
) -> None:
    settings.BEACON_MIN_COUNT = 1  # exact counts, to compare them
    cases = _cases()
    assert len(cases) == dev_sample > 200
    # Broad and narrow terms: Seizure, Global developmental delay, Intellectual disability,
    # Abnormality of the nervous system, Focal-onset seizure.
    terms = ["HP:0001250", "HP:0001263", "HP:0001249", "HP:0000707", "HP:0007359"]
    for hpo_id in terms:
        for descendants in (True, False):
            expected = sum(_has(case, hpo_id, descendants=descendants) for case in cases)
            found = _count(ask, [{"id": hpo_id, "includeDescendantTerms": descendants}])
            assert found == expected, (hpo_id, descendants)
    # The default is with descendants, and the difference shows on this sample.
    assert _count(ask, [{"id": "HP:0000707"}]) > _count(
        ask, [{"id": "HP:0000707", "includeDescendantTerms": False}]
    )
    # Three filters, ANDed.
    three = ["HP:0000707", "HP:0001263", "HP:0000118"]
    expected = sum(all(_has(case, t, descendants=True) for t in three) for case in cases)
    assert expected > 0
    assert _count(ask, [{"id": t} for t in three]) == expected

    # A gene (by symbol, as a request parameter) and a term together.
    symbol = next(iter(sorted(cases[0]["symbols"] or cases[1]["symbols"])))
    gene_cases = [case for case in cases if symbol in case["symbols"]]
    assert _count(ask, [], requestParameters={"geneId": symbol}) == len(gene_cases)
    assert _count(ask, [{"id": "HP:0000118"}], requestParameters={"geneId": symbol}) == sum(
        _has(case, "HP:0000118", descendants=True) for case in gene_cases
    )
    # Sex and a disease.
    females = sum(case["sex"] == "FEMALE" for case in cases)
    assert _count(ask, [{"id": "NCIT:C16576"}]) == females
    disease = next(d for case in cases for d in sorted(case["diseases"]))
    assert _count(ask, [{"id": disease}]) == sum(disease in case["diseases"] for case in cases)
    assert _count(ask, [{"id": disease}, {"id": "NCIT:C16576"}]) == sum(
        disease in case["diseases"] and case["sex"] == "FEMALE" for case in cases
    )
    # A variant (sequence query, 0-based start as stored) as individuals and as g_variants.
    chromosome, start, reference, alternate = next(
        v for case in cases for v in sorted(case["variants"], key=str)
    )
    position = {
        "referenceName": chromosome,
        "start": [start],
        "referenceBases": reference,
        "alternateBases": alternate,
    }
    with_variant = sum((chromosome, start, reference, alternate) in c["variants"] for c in cases)
    assert with_variant >= 1
    assert _count(ask, [], requestParameters=position) == with_variant
    response = ask("g_variants", {"requestParameters": position, "requestedGranularity": "count"})
    assert_valid(response.json(), RESPONSES + "beaconCountResponse.json")
    assert response.json()["responseSummary"]["numTotalResults"] == 1
    gene_variants = {v for case in gene_cases for v in case["variants"]}
    response = ask(
        "g_variants", {"requestParameters": {"geneId": symbol}, "requestedGranularity": "count"}
    )
    assert response.json()["responseSummary"]["numTotalResults"] == len(gene_variants)


def test_similarity_widens_a_term_to_its_neighbours(
    ask: Callable[..., Any], count_client: BeaconClient, dev_sample: int, settings: Any
) -> None:
    settings.BEACON_MIN_COUNT = 1
    counts = [
        _count(ask, [{"id": "HP:0001263", "includeDescendantTerms": False, "similarity": level}])
        for level in ("exact", "high", "medium", "low")
    ]
    assert counts == sorted(counts)
    assert counts[-1] > counts[0]


def test_withdrawn_consent_leaves_the_count_at_once(
    ask: Callable[..., Any], count_client: BeaconClient, alice: Any, settings: Any
) -> None:
    from matchmaker.cases.records import CaseRecord, FeatureRecord
    from matchmaker.casework.services import CaseOwnership, import_case_records

    settings.BEACON_MIN_COUNT = 1
    ownership = CaseOwnership(
        institution=alice.membership.institution, owner=alice, source="entered", consented=True
    )
    records = [
        (f"case {n}", CaseRecord(label=f"family {n}", features=(FeatureRecord("HP:0001250"),)))
        for n in range(3)
    ]
    import_case_records(records, ownership=ownership)
    assert _count(ask, [{"id": "HP:0001250"}]) == 3
    record_consent(Case.objects.order_by("id").first(), consented=False, by=alice)
    assert _count(ask, [{"id": "HP:0001250"}]) == 2
    # Test data is seen by test-mode queries only.
    Case.objects.filter(pk=Case.objects.order_by("id").last().pk).update(is_test=True)
    from matchmaker.matching.index import record_index_change

    record_index_change(Case.objects.order_by("id").last().pk)
    assert _count(ask, [{"id": "HP:0001250"}]) == 1
    assert _count(ask, [{"id": "HP:0001250"}], testMode=True) == 1


def test_small_counts_are_only_reported_as_present(
    ask: Callable[..., Any], count_client: BeaconClient, dev_sample: int
) -> None:
    cases = _cases()
    rare = next(
        hpo_id
        for case in cases
        for hpo_id in sorted(case["observed"])
        if 0 < sum(_has(c, hpo_id, descendants=True) for c in cases) < 5
    )
    response = ask("individuals", {"filters": [{"id": rare}], "requestedGranularity": "count"})
    body = response.json()
    assert_valid(body, RESPONSES + "beaconBooleanResponse.json")
    assert body["responseSummary"] == {"exists": True}
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert body["info"]["countPrecision"] == "present"
    assert BeaconQuery.objects.filter(endpoint="individuals").last().disclosed_count is None


def test_no_caller_gets_more_than_it_was_granted(
    client: Client,
    ask: Callable[..., Any],
    count_client: BeaconClient,
    boolean_client: BeaconClient,
    dev_sample: int,
    settings: Any,
) -> None:
    query = {"filters": [{"id": "HP:0000118"}], "requestedGranularity": "count"}
    body = ask("individuals", query, token=BOOLEAN_TOKEN).json()
    assert_valid(body, RESPONSES + "beaconBooleanResponse.json")
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert "numTotalResults" not in body["responseSummary"]

    # Record level: refused to everyone.
    response = ask("individuals", {**query, "requestedGranularity": "record"})
    assert response.status_code == 403
    assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")

    # Anonymous: nothing while the node does not allow it, then booleans only.
    response = ask("individuals", query, token=None)
    assert response.status_code == 401
    assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")
    assert _get(client, "/beacon/filtering_terms").status_code == 401
    settings.BEACON_ANONYMOUS_BOOLEAN = True
    body = ask("individuals", query, token=None).json()
    assert body["meta"]["returnedGranularity"] == "boolean"
    assert body["responseSummary"] == {"exists": True}

    # An unknown token is refused, not treated as anonymous.
    response = ask("individuals", query, token="not-a-token-of-anyone-0000000000000")
    assert response.status_code == 401
    assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")
    audited = BeaconQuery.objects.filter(endpoint="individuals")
    assert audited.filter(status_code=401).count() == 2
    assert audited.filter(client_name="Portal", returned_granularity="boolean").count() == 1


def test_unknown_filters_are_warnings_and_bad_requests_are_errors(
    client: Client, ask: Callable[..., Any], count_client: BeaconClient, dev_sample: int
) -> None:
    response = ask(
        "individuals",
        {"filters": [{"id": "hp:0000118"}, {"id": "FOO:123"}, {"id": "HP:9999999"}]},
    )
    assert response.status_code == 200
    body = response.json()
    assert_valid(body, RESPONSES + "beaconBooleanResponse.json")
    assert len(body["info"]["warnings"]) == 2
    assert "FOO:123" in body["info"]["warnings"][0]

    for query, field in (
        ({"requestedGranularity": "everything"}, "requestedGranularity"),
        ({"filters": [{"id": "HP:0000118", "similarity": "some"}]}, "similarity"),
        ({"requestParameters": {"referenceName": "1", "start": ["x"]}}, "start"),
        ({"requestParameters": {"start": [5], "alternateBases": "A"}}, "referenceName"),
    ):
        response = ask("individuals", query)
        assert response.status_code == 400, query
        assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")
        assert field in response.json()["error"]["errorMessage"]
    response = client.post(
        "/beacon/individuals",
        data="{not json",
        content_type="application/json",
        headers={"Authorization": f"Bearer {COUNT_TOKEN}"},
    )
    assert response.status_code == 400
    assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")
    response = ask("g_variants", {})
    assert response.status_code == 400
    assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")


def test_get_requests_and_filtering_terms(
    client: Client, count_client: BeaconClient, dev_sample: int, settings: Any
) -> None:
    settings.BEACON_MIN_COUNT = 1
    response = _get(
        client,
        "/beacon/individuals?filters=HP:0000707,HP:0001263&requestedGranularity=count",
        COUNT_TOKEN,
    )
    assert response.status_code == 200
    body = response.json()
    assert_valid(body, RESPONSES + "beaconCountResponse.json")
    assert body["meta"]["receivedRequestSummary"]["filters"] == ["HP:0000707", "HP:0001263"]
    cases = _cases()
    assert body["responseSummary"]["numTotalResults"] == sum(
        _has(c, "HP:0000707", descendants=True) and _has(c, "HP:0001263", descendants=True)
        for c in cases
    )
    response = _get(client, "/beacon/filtering_terms", COUNT_TOKEN)
    body = response.json()
    assert_valid(body, RESPONSES + "beaconFilteringTermsResponse.json")
    ids = {term["id"]: term for term in body["response"]["filteringTerms"]}
    assert ids["HP:0001263"]["label"] == "Global developmental delay"
    assert any(i.startswith("OMIM:") for i in ids)
    assert any(i.startswith("NCBIGene:") for i in ids)


def test_clients_are_rate_limited(
    ask: Callable[..., Any], count_client: BeaconClient, db: None
) -> None:
    count_client.rate_limit_per_minute = 2
    count_client.save()
    statuses = [ask("individuals", {}).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_add_beacon_client_stores_only_a_hash(db: None) -> None:
    from django.core.management import CommandError, call_command

    token = "aggregator-token-0123456789abcdef012345"
    call_command(
        "add_beacon_client", "EU Beacon Network", "--token", token, "--granularity", "count"
    )
    stored = BeaconClient.objects.get(name="EU Beacon Network")
    assert stored.granularity == "count"
    assert token not in json.dumps(list(BeaconClient.objects.values()), default=str)
    with pytest.raises(CommandError, match="granularity"):
        call_command(
            "add_beacon_client", "Other", "--token", token + "x", "--granularity", "record"
        )
    with pytest.raises(CommandError, match="token"):
        call_command("add_beacon_client", "Short", "--token", "short")


def test_opted_in_institutions_are_the_datasets(
    client: Client,
    ask: Callable[..., Any],
    count_client: BeaconClient,
    alice: Any,
    carol: Any,
    settings: Any,
) -> None:
    from matchmaker.beacon.models import BeaconDataset
    from matchmaker.cases.records import CaseRecord, FeatureRecord
    from matchmaker.casework.services import CaseOwnership, import_case_records

    settings.BEACON_MIN_COUNT = 1
    for user, count in ((alice, 2), (carol, 3)):
        import_case_records(
            [
                (
                    f"{user} {n}",
                    CaseRecord(label=f"family {n}", features=(FeatureRecord("HP:0001250"),)),
                )
                for n in range(count)
            ],
            ownership=CaseOwnership(
                institution=user.membership.institution,
                owner=user,
                source="entered",
                consented=True,
            ),
        )
    seizure = [{"id": "HP:0001250"}]
    # No opt-in recorded: the node is one dataset.
    assert _count(ask, seizure) == 5
    body = _get(client, "/beacon/datasets").json()
    assert [dataset["id"] for dataset in body["response"]["collections"]] == ["node"]

    BeaconDataset.objects.create(
        institution=alice.membership.institution,
        identifier="example-genetics",
        name="Example Genetics rare-disease cases",
        data_use=[{"id": "DUO:0000007", "label": "disease specific research"}],
    )
    body = _get(client, "/beacon/datasets").json()
    assert_valid(body, RESPONSES + "beaconCollectionsResponse.json")
    assert [dataset["id"] for dataset in body["response"]["collections"]] == ["example-genetics"]
    # Only the opted-in institution is counted, whichever way the dataset is named.
    assert _count(ask, seizure) == 2
    assert _count(ask, seizure, datasets=["example-genetics"]) == 2
    response = _get(
        client,
        "/beacon/individuals?filters=HP:0001250&requestedGranularity=count&datasets=elsewhere",
        COUNT_TOKEN,
    )
    assert response.status_code == 404
    assert_valid(response.json(), RESPONSES + "beaconErrorResponse.json")
    assert "elsewhere" in response.json()["error"]["errorMessage"]


def test_an_unknown_gene_counts_nothing_and_says_why(
    ask: Callable[..., Any], count_client: BeaconClient, dev_sample: int
) -> None:
    response = ask(
        "individuals",
        {"requestParameters": {"geneId": "NOTAGENE1"}, "requestedGranularity": "count"},
    )
    body = response.json()
    assert_valid(body, RESPONSES + "beaconCountResponse.json")
    assert body["responseSummary"] == {"exists": False, "numTotalResults": 0}
    assert "NOTAGENE1" in body["info"]["warnings"][0]


def test_an_excluded_feature_is_never_counted_as_present(
    ask: Callable[..., Any], count_client: BeaconClient, alice: Any, settings: Any
) -> None:
    from matchmaker.cases.records import CaseRecord, FeatureRecord
    from matchmaker.casework.services import CaseOwnership, import_case_records

    settings.BEACON_MIN_COUNT = 1
    focal, seizure, delay = "HP:0007359", "HP:0001250", "HP:0001263"
    records = {
        "focal seizures": (FeatureRecord(focal), FeatureRecord(delay)),
        "no seizures": (FeatureRecord(seizure, observed=False), FeatureRecord(delay)),
        # Recorded without any abnormality of the nervous system, yet with a focal seizure:
        # the exclusion of an ancestor wins.
        "contradictory": (FeatureRecord(focal), FeatureRecord("HP:0000707", observed=False)),
    }
    report = import_case_records(
        [
            (label, CaseRecord(label=label, features=features))
            for label, features in records.items()
        ],
        ownership=CaseOwnership(
            institution=alice.membership.institution, owner=alice, source="entered", consented=True
        ),
    )
    assert report.imported == 3, report.rejected
    assert _count(ask, [{"id": seizure}]) == 1
    assert _count(ask, [{"id": focal}]) == 1
    assert _count(ask, [{"id": delay}]) == 2
    assert _count(ask, [{"id": delay}, {"id": seizure}]) == 1
