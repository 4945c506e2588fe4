from __future__ import annotations

import copy
import json
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from matchmaker.federation import schema
from matchmaker.federation.schema import (
    SchemaViolation,
    heartbeat_violations,
    metrics_violations,
    request_violations,
    response_violations,
    schema_document,
)

ROOT = Path(__file__).resolve().parents[2]
BENCHMARK_PATIENTS: list[dict[str, Any]] = json.loads(
    (ROOT.parent / "shared" / "data" / "mme-benchmark-patients.json").read_text(encoding="utf-8")
)

# The upstream benchmark file (ga4gh/mme-apis testing/) has two structural variants, a multi-exon
# deletion and a splicing variant (P0001017, P0001018), given only as assembly and chromosome.
# The spec makes variant.start mandatory; we accept such a variant (real peers send them) and
# match it on its gene only.
BENCHMARK_WITHOUT_START = {"P0001017": 1, "P0001018": 0}


def _patient(**fields: Any) -> dict[str, Any]:
    """The smallest valid MME patient, with `fields` replacing or adding keys."""
    patient: dict[str, Any] = {
        "id": "N1-000042",
        "contact": {"name": "Dr A. Example", "href": "mailto:mme@example.org"},
        "features": [{"id": "HP:0001250"}],
    }
    patient.update(fields)
    return patient


def _genomic_feature(**variant_fields: Any) -> dict[str, Any]:
    variant = {"assembly": "GRCh37", "referenceName": "3", "start": 25775421} | variant_fields
    return {"gene": {"id": "ENSG00000151092"}, "variant": variant}


def _response(*scores: float) -> dict[str, Any]:
    return {"results": [{"score": {"patient": score}, "patient": _patient()} for score in scores]}


def _fields(violations: list[SchemaViolation]) -> list[str]:
    return [violation.field for violation in violations]


def test_the_schema_is_a_valid_draft_2020_12_schema() -> None:
    Draft202012Validator.check_schema(schema_document())


def test_the_schema_root_accepts_any_of_the_four_documents() -> None:
    root = Draft202012Validator(schema_document())

    assert root.is_valid({"patient": _patient()})
    assert root.is_valid(_response(0.5))
    assert root.is_valid({"heartbeat": {"production": True, "version": "1.0", "accept": []}})
    assert root.is_valid({"metrics": {}})
    assert not root.is_valid({"patient": _patient(id="")})


def test_schema_document_returns_a_copy_callers_may_change() -> None:
    schema_document()["$defs"]["patient"]["required"].append("label")

    assert request_violations({"patient": _patient()}) == []


def test_the_benchmark_file_holds_fifty_patients() -> None:
    assert len(BENCHMARK_PATIENTS) == 50


@pytest.mark.parametrize("patient", BENCHMARK_PATIENTS, ids=lambda patient: patient["id"])
def test_every_benchmark_patient_is_a_valid_request(patient: dict[str, Any]) -> None:
    assert request_violations({"patient": patient}) == []


def test_the_two_benchmark_variants_without_a_start_are_really_in_the_data() -> None:
    by_id = {patient["id"]: patient for patient in BENCHMARK_PATIENTS}
    for patient_id, index in BENCHMARK_WITHOUT_START.items():
        variant = by_id[patient_id]["genomicFeatures"][index]["variant"]
        assert "start" not in variant
        assert {"assembly", "referenceName"} <= variant.keys()


def test_a_variant_still_needs_its_assembly_and_chromosome() -> None:
    feature = {"gene": {"id": "NGLY1"}, "variant": {"start": 5}}
    violations = request_violations({"patient": _patient(genomicFeatures=[feature])})
    assert [violation.field for violation in violations] == [
        "patient.genomicFeatures[0].variant.assembly",
        "patient.genomicFeatures[0].variant.referenceName",
    ]


def test_a_full_request_with_disclaimer_and_terms_is_valid() -> None:
    patient = _patient(
        label="fam12-proband",
        species="NCBITaxon:9606",
        sex="FEMALE",
        ageOfOnset="HP:0003577",
        inheritanceMode="HP:0000007",
        disorders=[{"id": "MIM:610536", "label": "Mandibulofacial dysostosis"}],
        features=[
            {"id": "HP:0001250", "label": "Seizure", "observed": "yes", "ageOfOnset": "HP:0003593"},
            {"id": "HP:0001263", "observed": "no"},
        ],
        genomicFeatures=[
            {
                "gene": {"id": "ENSG00000151092"},
                "variant": {
                    "assembly": "GRCh37.p13",
                    "referenceName": "X",
                    "start": 0,
                    "end": 1,
                    "referenceBases": "C",
                    "alternateBases": "T",
                },
                "zygosity": 2,
                "type": {"id": "SO:0001587", "label": "stop_gained"},
            }
        ],
        test=True,
    )
    document = {"disclaimer": "For research use.", "terms": "MME terms", "patient": patient}

    assert request_violations(document) == []


def test_sex_is_validated() -> None:
    violations = request_violations({"patient": _patient(sex="female")})

    assert violations == [
        SchemaViolation(
            "patient.sex",
            "'female' is not one of FEMALE, MALE, OTHER, MIXED_SAMPLE, NOT_APPLICABLE",
        )
    ]


def test_gender_is_ignored_like_any_other_unknown_field() -> None:
    assert request_violations({"patient": _patient(gender="anything")}) == []


@pytest.mark.parametrize("field", ["referenceBases", "alternateBases"])
def test_variant_bases_are_validated(field: str) -> None:
    patient = _patient(genomicFeatures=[_genomic_feature(**{field: "c"})])

    assert request_violations({"patient": patient}) == [
        SchemaViolation(
            f"patient.genomicFeatures[0].variant.{field}", "'c' does not match ^[ACGTN]+$"
        )
    ]


def test_the_2015_names_of_the_variant_bases_are_not_checked() -> None:
    patient = _patient(genomicFeatures=[_genomic_feature(referenceBase=1, alternativeBase=2)])

    assert request_violations({"patient": patient}) == []


@pytest.mark.parametrize(
    "email", ["mme@example.org", "anonymised", ["a@example.org", "b@example.org"], []]
)
def test_contact_email_may_be_a_string_or_a_list_of_strings(email: object) -> None:
    contact = {"name": "Dr A. Example", "email": email, "roles": ["clinician", "researcher"]}

    assert request_violations({"patient": _patient(contact=contact)}) == []


def test_contact_email_lists_hold_only_strings() -> None:
    contact = {"name": "Dr A. Example", "email": ["a@example.org", 7]}

    assert request_violations({"patient": _patient(contact=contact)}) == [
        SchemaViolation("patient.contact.email[1]", "must be a string, not integer")
    ]


def test_contact_email_of_another_type_is_refused_once() -> None:
    contact = {"name": "Dr A. Example", "email": {"address": "a@example.org"}}

    assert request_violations({"patient": _patient(contact=contact)}) == [
        SchemaViolation("patient.contact.email", "must be a string or an array, not object")
    ]


def test_contact_needs_an_href_or_an_email() -> None:
    contact = {"name": "Dr A. Example", "institution": "Example Genetics"}

    assert request_violations({"patient": _patient(contact=contact)}) == [
        SchemaViolation("patient.contact", "needs an href or an email")
    ]


@pytest.mark.parametrize(
    "href",
    ["https://example.org/contact", "http://www.ncbi.nlm.nih.gov/pubmed/1", "mailto:a@b.org"],
)
def test_contact_href_accepts_web_pages_and_mailto(href: str) -> None:
    contact = {"name": "Dr A. Example", "href": href}

    assert request_violations({"patient": _patient(contact=contact)}) == []


@pytest.mark.parametrize("href", ["www.example.org", "ftp://example.org", "mailto:a b@c.org", ""])
def test_contact_href_is_checked_without_optional_format_checkers(href: str) -> None:
    contact = {"name": "Dr A. Example", "href": href}

    assert _fields(request_violations({"patient": _patient(contact=contact)})) == [
        "patient.contact.href"
    ]


def test_contact_roles_are_limited_to_the_three_of_the_spec() -> None:
    contact = {"name": "Dr A. Example", "href": "mailto:a@b.org", "roles": ["geneticist"]}

    assert request_violations({"patient": _patient(contact=contact)}) == [
        SchemaViolation(
            "patient.contact.roles[0]", "'geneticist' is not one of clinician, researcher, patient"
        )
    ]


def test_a_missing_contact_name_names_the_missing_field() -> None:
    patient = _patient(contact={"href": "mailto:a@b.org"})

    assert request_violations({"patient": patient}) == [
        SchemaViolation("patient.contact.name", "is required")
    ]


@pytest.mark.parametrize(
    "disorder_id", ["MIM:610536", "OMIM:610536", "Orphanet:1", "ORPHA:1234567"]
)
def test_disorders_accept_omim_and_orphanet_ids_with_labels(disorder_id: str) -> None:
    patient = _patient(disorders=[{"id": disorder_id, "label": "a disorder " * 50}])

    assert request_violations({"patient": patient}) == []


@pytest.mark.parametrize("disorder_id", ["MIM:12345", "OMIM:1234567", "Orphanet:", "DOID:1234"])
def test_disorders_refuse_other_ids(disorder_id: str) -> None:
    patient = _patient(disorders=[{"id": disorder_id}])

    assert _fields(request_violations({"patient": patient})) == ["patient.disorders[0].id"]


def test_feature_ids_must_be_hpo_ids() -> None:
    patient = _patient(features=[{"id": "HP:0001250"}, {"id": "HP:0001263"}, {"id": "HP:12"}])

    assert request_violations({"patient": patient}) == [
        SchemaViolation("patient.features[2].id", "'HP:12' does not match ^HP:\\d{7}$")
    ]


def test_underscore_and_unknown_fields_are_accepted_at_every_level() -> None:
    extras = {"_source": "seqr", "unknown": [1, 2]}
    patient = (
        _patient(
            contact={"name": "Dr A. Example", "href": "mailto:a@b.org"} | extras,
            disorders=[{"id": "MIM:610536"} | extras],
            features=[{"id": "HP:0001250"} | extras],
            genomicFeatures=[
                {
                    "gene": {"id": "MYH11", "_geneName": "MYH11", "_entrezGeneID": "4629"},
                    "variant": {"assembly": "GRCh38", "referenceName": "MT", "start": 5} | extras,
                    "type": {"id": "SO:0001583"} | extras,
                }
                | extras
            ],
        )
        | extras
    )
    response = {"results": [{"score": {"patient": 1} | extras, "patient": patient} | extras]}
    heartbeat = {"production": False, "version": "0.1.0", "accept": []} | extras

    assert request_violations({"patient": patient} | extras) == []
    assert response_violations(response | extras) == []
    assert heartbeat_violations({"heartbeat": heartbeat} | extras) == []
    assert metrics_violations({"metrics": extras} | extras) == []


def test_a_patient_without_features_or_genomic_features_is_refused() -> None:
    patient = _patient()
    del patient["features"]

    assert request_violations({"patient": patient}) == [
        SchemaViolation("patient", "needs at least one feature or genomic feature")
    ]


def test_a_patient_with_both_lists_empty_is_refused() -> None:
    patient = _patient(features=[], genomicFeatures=[])

    assert request_violations({"patient": patient}) == [
        SchemaViolation("patient", "needs at least one feature or genomic feature")
    ]


def test_genomic_features_alone_are_enough() -> None:
    patient = _patient(features=[], genomicFeatures=[{"gene": {"id": "NGLY1"}}])

    assert request_violations({"patient": patient}) == []


def test_a_negative_start_names_the_nested_field() -> None:
    patient = _patient(genomicFeatures=[_genomic_feature(start=-1)])

    assert request_violations({"patient": patient}) == [
        SchemaViolation("patient.genomicFeatures[0].variant.start", "must be at least 0, not -1")
    ]


@pytest.mark.parametrize("zygosity", [0, 1, 2])
def test_zygosity_accepts_unknown_heterozygous_and_homozygous(zygosity: int) -> None:
    patient = _patient(genomicFeatures=[{"gene": {"id": "NGLY1"}, "zygosity": zygosity}])

    assert request_violations({"patient": patient}) == []


def test_a_value_of_the_wrong_type_is_reported_once() -> None:
    patient = _patient(genomicFeatures=[{"gene": {"id": "NGLY1"}, "zygosity": True}])

    assert request_violations({"patient": patient}) == [
        SchemaViolation("patient.genomicFeatures[0].zygosity", "must be an integer, not boolean")
    ]


def test_wrong_types_say_what_was_expected() -> None:
    document = {"patient": _patient(id=42, test="yes"), "disclaimer": None}

    assert request_violations(document) == [
        SchemaViolation("disclaimer", "must be a string, not null"),
        SchemaViolation("patient.id", "must be a string, not integer"),
        SchemaViolation("patient.test", "must be a boolean, not string"),
    ]


def test_violations_are_ordered_most_relevant_first() -> None:
    # Higher up in the document first; among siblings, the order of the schema and document.
    patient = _patient(
        features=[{"id": "HP:1"}], contact={"href": "mailto:a@b.org"}, species="human"
    )
    del patient["id"]

    violations = request_violations({"patient": patient})

    assert violations == [
        SchemaViolation("patient.id", "is required"),
        SchemaViolation("patient.contact.name", "is required"),
        SchemaViolation("patient.species", "'human' does not match ^NCBITaxon:\\d+$"),
        SchemaViolation("patient.features[0].id", "'HP:1' does not match ^HP:\\d{7}$"),
    ]
    assert request_violations({"patient": patient}) == violations


def test_each_missing_field_is_reported_once() -> None:
    # jsonschema raises one `required` error per missing key, each able to name all of them.
    document = {"patient": {"features": [{"id": "HP:0001250"}]}}

    assert request_violations(document) == [
        SchemaViolation("patient.id", "is required"),
        SchemaViolation("patient.contact", "is required"),
    ]


def test_long_values_are_shortened_in_messages() -> None:
    (violation,) = request_violations({"patient": _patient(species="x" * 1000)})

    assert violation.field == "patient.species"
    assert violation.message.startswith("'xxxx")
    assert len(violation.message) < 80


@pytest.mark.parametrize(
    "check", [request_violations, response_violations, heartbeat_violations, metrics_violations]
)
@pytest.mark.parametrize(("document", "kind"), [([], "array"), ("{}", "string"), (None, "null")])
def test_a_document_that_is_not_an_object_is_refused_as_a_whole(
    check: Callable[[object], list[SchemaViolation]], document: object, kind: str
) -> None:
    assert check(document) == [SchemaViolation("", f"must be an object, not {kind}")]


def test_a_request_needs_a_patient() -> None:
    assert request_violations({"disclaimer": "x"}) == [SchemaViolation("patient", "is required")]


@pytest.mark.parametrize("score", [0, 0.5, 1])
def test_scores_from_zero_to_one_are_accepted(score: float) -> None:
    assert response_violations(_response(score)) == []


@pytest.mark.parametrize(
    ("score", "message"),
    [
        (-0.1, "must be at least 0, not -0.1"),
        (1.5, "must be at most 1, not 1.5"),
        (56, "must be at most 1, not 56"),
    ],
)
def test_scores_outside_zero_to_one_are_refused(score: float, message: str) -> None:
    assert response_violations(_response(0.9, score)) == [
        SchemaViolation("results[1].score.patient", message)
    ]


def test_responses_accept_disclaimer_and_underscore_disclaimer() -> None:
    document = {"disclaimer": "ours", "_disclaimer": "matchbox style", "terms": "t"} | _response()

    assert response_violations(document) == []


def test_responses_need_results_but_they_may_be_empty() -> None:
    assert response_violations({"results": []}) == []
    assert response_violations({"disclaimer": "x"}) == [SchemaViolation("results", "is required")]


def test_each_result_needs_a_score_and_a_valid_patient() -> None:
    document = {"results": [{"patient": _patient(features=[])}, {"score": {"_genotype": 1}}]}

    assert response_violations(document) == [
        SchemaViolation("results[0].score", "is required"),
        SchemaViolation("results[1].patient", "is required"),
        SchemaViolation("results[1].score.patient", "is required"),
        SchemaViolation("results[0].patient", "needs at least one feature or genomic feature"),
    ]


def test_a_heartbeat_needs_production_version_and_accepted_media_types() -> None:
    good = {
        "heartbeat": {
            "production": True,
            "version": "0.1.0",
            "accept": ["application/vnd.ga4gh.matchmaker.v1.0+json"],
        },
        "disclaimer": "x",
    }

    assert heartbeat_violations(good) == []
    assert heartbeat_violations({"heartbeat": {"production": "true", "accept": [1]}}) == [
        SchemaViolation("heartbeat.version", "is required"),
        SchemaViolation("heartbeat.production", "must be a boolean, not string"),
        SchemaViolation("heartbeat.accept[0]", "must be a string, not integer"),
    ]
    assert heartbeat_violations({}) == [SchemaViolation("heartbeat", "is required")]


def test_metrics_are_all_optional_counts() -> None:
    full = {
        "metrics": {
            "numberOfCases": 50,
            "numberOfSubmitters": 3,
            "numberOfGenes": 70,
            "numberOfUniqueGenes": 20,
            "numberOfVariants": 70,
            "numberOfUniqueVariants": 68,
            "numberOfFeatures": 556,
            "numberOfUniqueFeatures": 400,
            "numberOfFeatureSets": 50,
            "numberOfUniqueGenesMatched": 0,
            "numberOfCasesWithDiagnosis": 43,
            "numberOfRequestsReceived": 12,
            "numberOfPotentialMatchesSent": 4,
            "dateGenerated": "2017-11-01",
        },
        "disclaimer": "x",
        "terms": "y",
    }

    assert metrics_violations(full) == []
    assert metrics_violations({"metrics": {}}) == []
    assert metrics_violations({}) == [SchemaViolation("metrics", "is required")]


def test_metrics_refuse_negative_or_fractional_counts() -> None:
    document = {"metrics": {"numberOfCases": -1, "numberOfGenes": 1.5, "dateGenerated": 2017}}

    assert sorted(metrics_violations(document), key=lambda violation: violation.field) == [
        SchemaViolation("metrics.dateGenerated", "must be a string, not integer"),
        SchemaViolation("metrics.numberOfCases", "must be at least 0, not -1"),
        SchemaViolation("metrics.numberOfGenes", "must be an integer, not number"),
    ]


# Values that break one rule or another of the schema: wrong types, empty and overlong strings,
# ids of the wrong shape, numbers out of range, booleans where numbers go.
_MUTANT_VALUES: tuple[object, ...] = (
    None, True, False, 0, -1, 1.5, 2, 10**20, "", "x", "HP:0000118", "HP:12", "OMIM:123456",
    "a" * 300, [], [{}], [1], {}, {"id": "HP:0001250"},
)  # fmt: skip


def _mutants(document: Any, count: int, seed: int) -> list[Any]:
    """`count` copies of `document`, each with one value replaced, one key removed or one
    unknown key added, somewhere in its tree (reproducible for a seed)."""

    def paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        found = [path] if path else []
        children: Any = ()
        if isinstance(value, dict):
            children = value.items()
        elif isinstance(value, list):
            children = enumerate(value)
        for key, child in children:
            found += paths(child, (*path, key))
        return found

    chooser = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    every_path = paths(document)
    mutants = []
    for _ in range(count):
        mutant = copy.deepcopy(document)
        *parents, last = chooser.choice(every_path)
        parent = mutant
        for key in parents:
            parent = parent[key]
        action = chooser.random()
        if action < 0.6 or not isinstance(parent, dict):
            parent[last] = chooser.choice(_MUTANT_VALUES)
        elif action < 0.8:
            del parent[last]
        else:
            parent["unknownKey"] = chooser.choice(_MUTANT_VALUES)
        mutants.append(mutant)
    return mutants


@pytest.mark.parametrize(
    ("definition", "check", "documents"),
    [
        ("request", request_violations, [{"patient": patient} for patient in BENCHMARK_PATIENTS]),
        (
            "response",
            response_violations,
            [
                {"results": [{"score": {"patient": 0.5}, "patient": patient}]}
                for patient in BENCHMARK_PATIENTS[:10]
            ],
        ),
        (
            "heartbeatResponse",
            heartbeat_violations,
            [{"heartbeat": {"production": True, "version": "1", "accept": ["a"]}, "terms": "t"}],
        ),
        (
            "metricsResponse",
            metrics_violations,
            [{"metrics": {"numberOfCases": 5, "numberOfGenes": 2, "dateGenerated": "2026-01-01"}}],
        ),
    ],
)
def test_the_compiled_check_agrees_with_jsonschema_on_mutated_documents(
    definition: str, check: Callable[[object], list[SchemaViolation]], documents: list[Any]
) -> None:
    """Valid documents skip jsonschema (`schema._verdict`): it must never find valid what
    jsonschema refuses, nor refuse what it accepts (then the violation list would be empty)."""
    validator = schema._validator(definition)
    per_document = max(20, 1000 // len(documents))
    disagreements = []
    invalid = 0
    for number, document in enumerate(documents):
        for mutant in [document, *_mutants(document, per_document, seed=number)]:
            valid = validator.is_valid(mutant)
            invalid += not valid
            if (check(mutant) == []) != valid:
                disagreements.append(mutant)
    assert disagreements == []
    assert invalid > per_document * len(documents) // 4  # the mutants do break rules
