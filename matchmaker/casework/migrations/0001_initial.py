"""Match and MatchEvent move here from the matching app; their tables (matching_match,
matching_matchevent) and every index and constraint stay as they are.

State only, plus the content types renamed so admin history and permissions follow the models.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def move_content_types(apps, schema_editor):
    """Existing nodes: point the old content types at the new app (ids, and so permissions and
    admin history, are kept). A fresh database has none yet: post_migrate creates them."""
    content_type = apps.get_model("contenttypes", "ContentType")
    for model in ("match", "matchevent"):
        if not content_type.objects.filter(app_label="casework", model=model).exists():
            content_type.objects.filter(app_label="matching", model=model).update(
                app_label="casework"
            )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("matching", "0007_match_event_contact"),
        ("cases", "0003_submitted_variant_details"),
        ("federation", "0004_audit_ignored_identifiers"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="Match",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        (
                            "direction",
                            models.CharField(
                                choices=[
                                    ("local", "Local"),
                                    ("incoming", "Incoming (a peer's query matched our case)"),
                                    ("outgoing", "Outgoing (our query matched a peer's case)"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("remote_patient_id", models.CharField(blank=True, max_length=255)),
                        ("remote_patient", models.JSONField(blank=True, default=dict)),
                        ("remote_disclaimer", models.TextField(blank=True)),
                        ("score", models.FloatField()),
                        ("phenotype_score", models.FloatField()),
                        ("genotype_score", models.FloatField()),
                        ("explanation", models.JSONField(blank=True, default=dict)),
                        (
                            "status",
                            models.CharField(
                                choices=[
                                    ("new", "New"),
                                    ("reviewed", "Reviewed"),
                                    ("contacted", "Contacted"),
                                    ("dismissed", "Dismissed"),
                                ],
                                default="new",
                                max_length=16,
                            ),
                        ),
                        ("notes", models.TextField(blank=True)),
                        ("first_seen", models.DateTimeField(auto_now_add=True)),
                        ("last_seen", models.DateTimeField()),
                        ("removed_at", models.DateTimeField(blank=True, null=True)),
                        ("notified_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "case",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="matches",
                                to="cases.case",
                            ),
                        ),
                        (
                            "matched_case",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="matched_by",
                                to="cases.case",
                            ),
                        ),
                        (
                            "peer",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.PROTECT,
                                related_name="matches",
                                to="federation.peer",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "matching_match",
                        "ordering": ["-score", "id"],
                    },
                ),
                migrations.CreateModel(
                    name="MatchEvent",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("at", models.DateTimeField(auto_now_add=True)),
                        (
                            "from_status",
                            models.CharField(
                                choices=[
                                    ("new", "New"),
                                    ("reviewed", "Reviewed"),
                                    ("contacted", "Contacted"),
                                    ("dismissed", "Dismissed"),
                                ],
                                max_length=16,
                            ),
                        ),
                        (
                            "to_status",
                            models.CharField(
                                choices=[
                                    ("new", "New"),
                                    ("reviewed", "Reviewed"),
                                    ("contacted", "Contacted"),
                                    ("dismissed", "Dismissed"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("notes", models.TextField(blank=True)),
                        ("contacted", models.CharField(blank=True, max_length=512)),
                        ("message", models.TextField(blank=True)),
                        (
                            "by",
                            models.ForeignKey(
                                blank=True,
                                null=True,
                                on_delete=django.db.models.deletion.SET_NULL,
                                related_name="+",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "match",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="events",
                                to="casework.match",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "matching_matchevent",
                        "ordering": ["at", "id"],
                    },
                ),
                migrations.AddIndex(
                    model_name="match",
                    index=models.Index(
                        fields=["case", "status"], name="matching_ma_case_id_6b2684_idx"
                    ),
                ),
                migrations.AddIndex(
                    model_name="match",
                    index=models.Index(
                        fields=["peer", "remote_patient_id"], name="match_peer_remote_patient"
                    ),
                ),
                migrations.AddConstraint(
                    model_name="match",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("matched_case__isnull", False)),
                        fields=("case", "matched_case"),
                        name="match_unique_local_pair",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="match",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("peer__isnull", False)),
                        fields=("case", "peer", "remote_patient_id", "direction"),
                        name="match_unique_remote_patient",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="match",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("score__gte", 0),
                            ("score__lte", 1),
                            ("phenotype_score__gte", 0),
                            ("phenotype_score__lte", 1),
                            ("genotype_score__gte", 0),
                            ("genotype_score__lte", 1),
                        ),
                        name="match_scores_within_0_1",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="match",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            models.Q(("direction", "local"), ("matched_case__isnull", False)),
                            models.Q(("direction", "local"), _negated=True),
                            _connector="OR",
                        ),
                        name="match_local_has_matched_case",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="match",
                    constraint=models.CheckConstraint(
                        condition=models.Q(
                            ("direction", "local"),
                            models.Q(
                                ("peer__isnull", False),
                                models.Q(("remote_patient_id", ""), _negated=True),
                            ),
                            _connector="OR",
                        ),
                        name="match_remote_has_peer_and_patient",
                    ),
                ),
                migrations.AddIndex(
                    model_name="matchevent",
                    index=models.Index(
                        fields=["match", "at"], name="matching_ma_match_i_1d17f1_idx"
                    ),
                ),
            ],
        ),
        migrations.RunPython(move_content_types, migrations.RunPython.noop),
    ]
