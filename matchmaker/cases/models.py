"""Pseudonymised cases: who they belong to, their phenotype, their candidate genes and disorders.

No names, dates of birth, addresses or record numbers are stored: `label` is checked against
identifier patterns by the services, and the only id shown outside the node is `public_id`.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from matchmaker.lib.variants import describe_variant


class Institution(models.Model):
    """A hospital or laboratory; clinicians see and edit the cases of their own institution."""

    name = models.CharField(max_length=255, unique=True)
    # Default contact for cases that do not name their own (MME requires a contact on every patient).
    contact_name = models.CharField(max_length=255, blank=True)
    contact_email = models.EmailField(blank=True)
    contact_url = models.URLField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in an institution."""

    class Role(models.TextChoices):
        CLINICIAN = "clinician", "Clinician"
        ADMIN = "admin", "Institution admin"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="membership"
    )
    institution = models.ForeignKey(Institution, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.CLINICIAN)

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()}, {self.institution})"


class Case(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        WITHDRAWN = "withdrawn", "Withdrawn"

    class Sex(models.TextChoices):
        FEMALE = "FEMALE", "Female"
        MALE = "MALE", "Male"
        OTHER = "OTHER", "Other"
        MIXED_SAMPLE = "MIXED_SAMPLE", "Mixed sample"
        NOT_APPLICABLE = "NOT_APPLICABLE", "Not applicable"

    class Source(models.TextChoices):
        ENTERED = "entered", "Entered by hand"
        PHENOPACKET = "phenopacket", "Phenopacket import"
        MME = "mme", "MME JSON import"
        SYNTHETIC = "synthetic", "Synthetic demo case"

    # Opaque id shown to peers and in links; never the database key, never derived from the label.
    public_id = models.CharField(max_length=32, unique=True, editable=False)
    label = models.CharField(max_length=255)
    institution = models.ForeignKey(Institution, on_delete=models.PROTECT, related_name="cases")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="owned_cases",
    )

    contact_name = models.CharField(max_length=255, blank=True)
    contact_institution = models.CharField(max_length=255, blank=True)
    contact_href = models.CharField(max_length=255, blank=True)
    contact_email = models.CharField(max_length=255, blank=True)

    sex = models.CharField(max_length=16, choices=Sex.choices, blank=True)
    age_of_onset = models.CharField(max_length=10, blank=True)  # hpo_id under HP:0003674 Onset
    # The onset as an ISO 8601 age ("P18Y") when it was submitted as an age (phenopackets).
    onset_age = models.CharField(max_length=32, blank=True)
    inheritance_mode = models.CharField(max_length=10, blank=True)  # hpo_id under HP:0000005

    # Consent to be sent to, and returned to, peer nodes. Without it a case is matched locally only.
    external_matching_consent = models.BooleanField(default=False)
    consent_recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    consent_recorded_at = models.DateTimeField(null=True, blank=True)
    consent_note = models.CharField(max_length=255, blank=True)

    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    is_test = models.BooleanField(default=False)
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ENTERED)
    # The HPO release the terms were validated against.
    hpo_release = models.CharField(max_length=32, blank=True)
    # The scoring method and HPO release of the case's last local matching ("" = not matched
    # since this was recorded): a case matched with an earlier one is matched again
    # (matchmaker.casework.services.rescoring). A database default too: during an upgrade over
    # several hosts, processes of the previous release still insert cases without the column.
    matched_with = models.CharField(max_length=200, blank=True, default="", db_default="")
    # Provenance for the curator (e.g. PMIDs of a published case); never sent to peers.
    external_references = models.JSONField(default=list, blank=True)
    # Non-standard "_"-prefixed MME fields, kept and passed through (MME §1.8).
    extra = models.JSONField(default=dict, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        # Newest first by key: ids grow with creation, and the primary key index makes this
        # ordering free even over a million cases (created_at has no index).
        ordering = ["-id"]
        constraints = [
            # A site finds its own record again by label; two cases with one label would be ambiguous.
            models.UniqueConstraint(
                fields=["institution", "label"], name="case_label_unique_per_institution"
            ),
            models.CheckConstraint(
                condition=models.Q(status="active", withdrawn_at__isnull=True)
                | models.Q(status="withdrawn", withdrawn_at__isnull=False),
                name="case_withdrawn_at_matches_status",
            ),
        ]
        indexes = [models.Index(fields=["status", "external_matching_consent"])]

    def __str__(self) -> str:
        return f"{self.public_id} ({self.label})"

    @property
    def is_shareable(self) -> bool:
        """May this case be sent to, or returned to, a peer node?"""
        return self.status == self.Status.ACTIVE and self.external_matching_consent


class PhenotypeFeature(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="features")
    hpo_id = models.CharField(max_length=10)  # the current term of the release in Case.hpo_release
    observed = models.BooleanField(default=True)  # False: explicitly excluded
    onset_hpo_id = models.CharField(max_length=10, blank=True)
    onset_age = models.CharField(max_length=32, blank=True)  # ISO 8601 age, when given so
    # The id as submitted when it was an alternative or obsolete id mapped to `hpo_id`.
    submitted_hpo_id = models.CharField(max_length=10, blank=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["case", "hpo_id"], name="feature_term_unique_per_case")
        ]
        indexes = [models.Index(fields=["hpo_id"])]

    def __str__(self) -> str:
        return self.hpo_id if self.observed else f"NOT {self.hpo_id}"


# GENO allelic states (as phenopackets give them) in words.
_ALLELIC_STATES = {
    "GENO:0000134": "hemizygous",
    "GENO:0000135": "heterozygous",
    "GENO:0000136": "homozygous",
    "GENO:0000402": "compound heterozygous",
}


class GenomicFeature(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="genomic_features")
    gene_id = models.CharField(max_length=32)  # canonical, e.g. "NCBIGene:672"
    gene_symbol = models.CharField(max_length=64)
    submitted_gene_id = models.CharField(max_length=64)
    ensembl_gene_id = models.CharField(max_length=32, blank=True)
    # Optional variant; MME coordinates: 0-based start, exclusive end.
    assembly = models.CharField(max_length=16, blank=True)
    reference_name = models.CharField(max_length=2, blank=True)
    start = models.BigIntegerField(null=True, blank=True)
    end = models.BigIntegerField(null=True, blank=True)
    reference_bases = models.TextField(blank=True)
    alternate_bases = models.TextField(blank=True)
    zygosity = models.PositiveSmallIntegerField(null=True, blank=True)  # 1 het/hemi, 2 hom
    variant_type_id = models.CharField(max_length=10, blank=True)  # SO:#######
    variant_type_label = models.CharField(max_length=255, blank=True)
    # Kept as submitted so that exports give back what was given; matching does not read them.
    # [{"syntax": "hgvs.c", "value": "NM_000138.5:c.1A>G"}, ...]
    hgvs_expressions = models.JSONField(default=list, blank=True)
    acmg_classification = models.CharField(max_length=32, blank=True)  # PATHOGENIC, ...
    allelic_state_id = models.CharField(max_length=12, blank=True)  # GENO:#######
    variant_label = models.TextField(blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["gene_id"]), models.Index(fields=["gene_symbol"])]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(zygosity__isnull=True) | models.Q(zygosity__in=[1, 2]),
                name="genomic_feature_zygosity_1_or_2",
            ),
            models.CheckConstraint(
                condition=models.Q(start__isnull=True) | models.Q(start__gte=0),
                name="genomic_feature_start_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return self.gene_symbol

    @property
    def zygosity_label(self) -> str:
        """ "heterozygous", "hemizygous", "homozygous", ... as submitted; "" when not stated."""
        if self.allelic_state_id in _ALLELIC_STATES:
            return _ALLELIC_STATES[self.allelic_state_id]
        return {1: "heterozygous", 2: "homozygous"}.get(self.zygosity or 0, "")

    @property
    def acmg_label(self) -> str:
        """The ACMG class as a clinician reads it ("Likely pathogenic"); "" when not given."""
        return self.acmg_classification.replace("_", " ").capitalize()

    @property
    def variant_description(self) -> str:
        """The variant as pages show it, 1-based ("GRCh38 chr3:25750426 A>G"); "" without one."""
        if self.start is None:
            return ""
        return describe_variant(
            assembly=self.assembly,
            reference_name=self.reference_name,
            start=self.start,
            reference_bases=self.reference_bases,
            alternate_bases=self.alternate_bases,
        )


class Disorder(models.Model):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="disorders")
    disorder_id = models.CharField(max_length=32)  # OMIM:######, ORPHA:#####, MONDO:#######
    label = models.CharField(max_length=500, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["disorder_id"])]

    def __str__(self) -> str:
        return self.disorder_id
