from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User

from matchmaker.cases.models import Case, Disorder, GenomicFeature, Institution, PhenotypeFeature
from matchmaker.cases.records import (
    ContactRecord,
    DisorderRecord,
    FeatureRecord,
    GenomicFeatureRecord,
    VariantRecord,
)
from matchmaker.casework.services import (
    CaseOwnership,
    delete_case,
    import_case_records,
    record_consent,
    submit_case,
    update_case,
    withdraw_case,
)
from matchmaker.lib.errors import ConflictError, FieldValidationError
from tests.factories import make_case, make_record

pytestmark = pytest.mark.django_db


def field_errors(excinfo: pytest.ExceptionInfo[FieldValidationError]) -> dict[str, str]:
    return dict(excinfo.value.errors)


def test_submit_case_stores_normalised_terms_and_canonical_gene(
    institution: Institution, alice: User
) -> None:
    case = make_case(institution=institution, owner=alice)

    assert re.fullmatch(r"MM-[0-9A-HJKMNP-TV-Z]{12}", case.public_id)
    assert case.label == "fam12-proband"
    assert case.hpo_release == "2025-01-16"
    assert {(f.hpo_id, f.observed) for f in case.features.all()} == {
        ("HP:0001250", True),
        ("HP:0001263", True),
        ("HP:0000252", False),
    }
    gene = case.genomic_features.get()
    assert (gene.gene_id, gene.gene_symbol, gene.submitted_gene_id) == (
        "NCBIGene:55768",
        "NGLY1",
        "NGLY1",
    )
    assert gene.zygosity == 2
    # Contact defaults to the institution's, since MME needs one on every patient.
    assert case.contact_email == "mme@example.org"
    assert case.contact_href == "mailto:mme@example.org"
    assert not case.external_matching_consent


def test_public_id_reveals_neither_key_nor_label(institution: Institution) -> None:
    first = make_case(institution=institution, label="A-1")
    second = make_case(institution=institution, label="A-2")
    assert first.public_id != second.public_id
    for case in (first, second):
        assert case.label not in case.public_id
        assert case.public_id != f"MM-{case.pk}"


@pytest.mark.parametrize(
    "label",
    [
        "John Smith 1990",
        "jane.doe@example.org",
        "MRN 1234567",
        "NHS 943 476 5919",
        "+44 20 7946 0958",
        "proband 12/03/1990",
        "dob 3.4.88",
        "9434765919",
    ],
)
def test_it_refuses_labels_that_look_like_personal_identifiers(
    institution: Institution, label: str
) -> None:
    with pytest.raises(FieldValidationError) as excinfo:
        make_case(institution=institution, label=label)
    assert "label" in field_errors(excinfo)
    assert not Case.objects.exists()


@pytest.mark.parametrize("label", ["fam12-proband", "PMID_15266616_100", "178_M43377", "P1 II-3"])
def test_it_accepts_pseudonymous_labels(institution: Institution, label: str) -> None:
    assert make_case(institution=institution, label=label).label == label


def test_it_rejects_malformed_hpo_ids_naming_the_id(institution: Institution) -> None:
    record = make_record(features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:99999999")))
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(record, institution=institution, owner=None)
    errors = field_errors(excinfo)
    assert "HP:99999999" in errors["features[1].id"]
    assert not Case.objects.exists()
    assert not PhenotypeFeature.objects.exists()


def test_it_keeps_a_well_formed_hpo_id_newer_than_the_release(institution: Institution) -> None:
    record = make_record(features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:9999999")))
    case = submit_case(record, institution=institution, owner=None)
    assert set(case.features.values_list("hpo_id", flat=True)) == {"HP:0001250", "HP:9999999"}


def test_it_reports_every_problem_at_once(institution: Institution) -> None:
    record = make_record(
        label="jane@example.org",
        features=(FeatureRecord("HP:123"),),
        genomic_features=(GenomicFeatureRecord(gene_id="NOT A GENE"),),
        disorders=(DisorderRecord("OMIM:12"),),
        sex="BOTH",
    )
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(record, institution=institution, owner=None)
    assert set(field_errors(excinfo)) == {
        "label",
        "features[0].id",
        "genomicFeatures[0].gene.id",
        "disorders[0].id",
        "sex",
    }
    assert "NOT A GENE" in field_errors(excinfo)["genomicFeatures[0].gene.id"]


def test_alternative_and_obsolete_ids_are_recorded_as_current_terms(
    institution: Institution,
) -> None:
    # HP:0001275 is an alt_id of Seizure; HP:0000057 is obsolete, replaced by HP:0008665.
    record = make_record(features=(FeatureRecord("HP:0001275"), FeatureRecord("HP:0000057")))
    case = submit_case(record, institution=institution, owner=None)
    stored = {f.hpo_id: f.submitted_hpo_id for f in case.features.all()}
    assert stored == {"HP:0001250": "HP:0001275", "HP:0008665": "HP:0000057"}


def test_obsolete_term_without_replacement_is_refused(institution: Institution) -> None:
    record = make_record(features=(FeatureRecord("HP:0001726"),))
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(record, institution=institution, owner=None)
    assert "HP:0001726" in field_errors(excinfo)["features[0].id"]


def test_a_term_outside_phenotypic_abnormality_points_to_the_right_field(
    institution: Institution,
) -> None:
    record = make_record(features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:0000007")))
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(record, institution=institution, owner=None)
    assert "inheritanceMode" in field_errors(excinfo)["features[1].id"]


def test_a_phenopacket_s_inheritance_and_onset_terms_become_the_case_s_fields(
    institution: Institution,
) -> None:
    # Phenopacket v2 has no field for them: exports (ours included) carry them as features.
    features = (
        FeatureRecord("HP:0001250"),
        FeatureRecord("HP:0000007"),  # Autosomal recessive inheritance
        FeatureRecord("HP:0003593"),  # Infantile onset
    )
    record = make_record(features=features, case_terms_as_features=True)

    case = submit_case(record, institution=institution, owner=None)

    assert (case.inheritance_mode, case.age_of_onset) == ("HP:0000007", "HP:0003593")
    assert [f.hpo_id for f in case.features.all()] == ["HP:0001250"]

    # A second, different mode of inheritance has no field to go to: refused, as from MME.
    second = make_record(
        label="fam13-proband",
        features=(*features, FeatureRecord("HP:0000006")),
        case_terms_as_features=True,
    )
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(second, institution=institution, owner=None)
    # Named at its place in the document, as submitted.
    assert "inheritanceMode" in field_errors(excinfo)["features[3].id"]


def test_a_term_both_observed_and_excluded_is_a_contradiction(institution: Institution) -> None:
    # The alt id maps onto the observed term, so the contradiction only shows after mapping.
    record = make_record(
        features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:0001275", observed=False))
    )
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(record, institution=institution, owner=None)
    assert "both as observed and as excluded" in field_errors(excinfo)["features[1].id"]


def test_a_case_with_nothing_to_match_on_is_refused(institution: Institution) -> None:
    record = make_record(
        features=(FeatureRecord("HP:0001250", observed=False),), genomic_features=()
    )
    with pytest.raises(FieldValidationError) as excinfo:
        submit_case(record, institution=institution, owner=None)
    assert "nothing to match on" in field_errors(excinfo)["features"]


def test_gene_identifiers_of_every_kind_reach_the_same_gene(
    institution: Institution, requires_full_gene_catalogue: None
) -> None:
    identifiers = ["NGLY1", "ngly1", "NCBIGene:55768", "55768", "ENSG00000151092.17", "PNG1"]
    for number, identifier in enumerate(identifiers):
        case = make_case(
            institution=institution,
            label=f"gene-{number}",
            genomic_features=(GenomicFeatureRecord(gene_id=identifier),),
        )
        gene = case.genomic_features.get()
        assert (gene.gene_id, gene.gene_symbol) == ("NCBIGene:55768", "NGLY1"), identifier
        assert gene.ensembl_gene_id == "ENSG00000151092"
        assert gene.submitted_gene_id == identifier


def test_hgnc_ids_fall_back_to_the_symbol_given_with_them(institution: Institution) -> None:
    # org.Hs.eg.db carries no HGNC ids; phenopackets give the HGNC id and the symbol together.
    with_symbol = GenomicFeatureRecord(gene_id="HGNC:17646", gene_symbol="NGLY1")
    case = make_case(institution=institution, genomic_features=(with_symbol,))
    assert case.genomic_features.get().gene_id == "NCBIGene:55768"

    alone = GenomicFeatureRecord(gene_id="HGNC:17646")
    with pytest.raises(FieldValidationError) as excinfo:
        make_case(institution=institution, label="other", genomic_features=(alone,))
    message = field_errors(excinfo)["genomicFeatures[0].gene.id"]
    assert "HGNC:17646" in message
    assert "HGNC id" in message


def test_variant_fields_are_checked(institution: Institution) -> None:
    bad = GenomicFeatureRecord(
        gene_id="NGLY1",
        variant=VariantRecord(
            assembly="hg99", reference_name="23", start=5, end=2, reference_bases="Z"
        ),
        zygosity=3,
    )
    with pytest.raises(FieldValidationError) as excinfo:
        make_case(institution=institution, genomic_features=(bad,))
    assert set(field_errors(excinfo)) == {
        "genomicFeatures[0].variant.assembly",
        "genomicFeatures[0].variant.referenceName",
        "genomicFeatures[0].variant.end",
        "genomicFeatures[0].variant.referenceBases",
        "genomicFeatures[0].zygosity",
    }


def test_labels_are_unique_within_an_institution(
    institution: Institution, other_institution: Institution
) -> None:
    make_case(institution=institution)
    with pytest.raises(ConflictError):
        make_case(institution=institution)
    assert make_case(institution=other_institution).label == "fam12-proband"
    assert Case.objects.count() == 2


def test_update_case_replaces_data_but_keeps_identity_and_consent(
    institution: Institution, alice: User
) -> None:
    case = make_case(institution=institution, owner=alice, consented=True)
    public_id = case.public_id
    updated = update_case(
        case,
        make_record(
            label="fam12-proband-v2",
            features=(FeatureRecord("HP:0001249"),),
            genomic_features=(),
            contact=ContactRecord(name="Dr A", email="a@example.org"),
        ),
    )
    updated.refresh_from_db()
    assert updated.public_id == public_id
    assert updated.label == "fam12-proband-v2"
    assert updated.external_matching_consent
    assert updated.consent_recorded_by == alice
    assert [f.hpo_id for f in updated.features.all()] == ["HP:0001249"]
    assert not updated.genomic_features.exists()
    assert updated.contact_email == "a@example.org"


def test_a_refused_update_changes_nothing(institution: Institution) -> None:
    case = make_case(institution=institution)
    with pytest.raises(FieldValidationError):
        update_case(case, make_record(features=(FeatureRecord("HP:99999999"),)))
    case.refresh_from_db()
    assert case.features.count() == 3
    assert case.genomic_features.count() == 1


def test_consent_records_who_and_when(institution: Institution, alice: User) -> None:
    case = make_case(institution=institution)
    assert not case.is_shareable
    record_consent(case, consented=True, by=alice, note="signed form 2026-03")
    case.refresh_from_db()
    assert case.is_shareable
    assert case.consent_recorded_by == alice
    assert case.consent_recorded_at is not None


def test_withdrawn_cases_are_kept_but_not_shareable(institution: Institution) -> None:
    case = make_case(institution=institution, consented=True)
    withdraw_case(case)
    case.refresh_from_db()
    assert case.status == Case.Status.WITHDRAWN
    assert case.withdrawn_at is not None
    assert not case.is_shareable


def test_delete_really_deletes_the_case_and_its_data(institution: Institution) -> None:
    case = make_case(
        institution=institution, disorders=(DisorderRecord("OMIM:615273", "NGLY1 deficiency"),)
    )
    delete_case(case)
    assert not Case.objects.exists()
    assert not PhenotypeFeature.objects.exists()
    assert not GenomicFeature.objects.exists()
    assert not Disorder.objects.exists()


def test_bulk_import_writes_the_same_rows_as_submit_case(
    institution: Institution, other_institution: Institution
) -> None:
    record = make_record(
        genomic_features=(
            GenomicFeatureRecord(
                gene_id="NGLY1",
                variant=VariantRecord("GRCh37", "3", 25775421, 25775422, "C", "T"),
                zygosity=2,
                variant_type_id="SO:0001587",
                variant_type_label="stop_gained",
            ),
        ),
        disorders=(DisorderRecord("OMIM:615273", "NGLY1 deficiency"),),
        external_references=("PMID:1",),
        extra={"_source": "test"},
        age_of_onset="HP:0003593",
    )
    single = submit_case(record, institution=institution, owner=None)
    report = import_case_records(
        [("doc-1", record)],
        ownership=CaseOwnership(institution=other_institution, owner=None, source="entered"),
    )
    assert report.imported == 1
    bulk = Case.objects.get(institution=other_institution)

    def snapshot(case: Case) -> tuple[object, ...]:
        # Identity, timestamps and the institution's default contact differ by design.
        skip = {"id", "public_id", "institution", "created_at", "updated_at"}
        skip |= {"contact_name", "contact_institution", "contact_email", "contact_href"}
        fields = {
            f.name: getattr(case, f.attname)
            for f in Case._meta.concrete_fields
            if f.name not in skip
        }
        children = (
            list(case.features.values("hpo_id", "observed", "onset_hpo_id", "submitted_hpo_id")),
            list(case.genomic_features.values().order_by("id")),
            list(case.disorders.values("disorder_id", "label")),
        )
        for row in children[1]:
            row.pop("id"), row.pop("case_id")
        return fields, children

    single_fields, single_children = snapshot(single)
    bulk_fields, bulk_children = snapshot(bulk)
    assert single_fields == bulk_fields
    assert single_children == bulk_children
    assert bulk.public_id != single.public_id


def test_import_is_all_or_nothing_per_document(institution: Institution) -> None:
    good = make_record(label="good-1")
    bad = make_record(
        label="bad-1", features=(FeatureRecord("HP:0001250"), FeatureRecord("HP:99999999"))
    )
    report = import_case_records(
        [("a.json", good), ("b.json", bad), ("c.json", make_record(label="good-1"))],
        ownership=CaseOwnership(institution=institution, owner=None, source="phenopacket"),
    )
    assert report.imported == 1
    assert [origin for origin, _ in report.rejected] == ["b.json", "c.json"]
    assert "HP:99999999" in report.rejected[0][1]
    assert "twice" in report.rejected[1][1]
    assert list(Case.objects.values_list("label", flat=True)) == ["good-1"]
    assert PhenotypeFeature.objects.count() == 3
