"""ReferenceRelease moves here from the matching app; its table (matching_referencerelease) stays.

State only: the table exists, created by matching's migrations.
"""

from django.db import migrations, models


def move_content_type(apps, schema_editor):
    """Existing nodes: point the old content type at this app (its id, and so its permissions
    and admin history, are kept). A fresh database has none yet: post_migrate creates it."""
    content_type = apps.get_model("contenttypes", "ContentType")
    if not content_type.objects.filter(app_label="reference", model="referencerelease").exists():
        content_type.objects.filter(app_label="matching", model="referencerelease").update(
            app_label="reference"
        )


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("matching", "0007_match_event_contact"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.CreateModel(
                    name="ReferenceRelease",
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
                            "kind",
                            models.CharField(
                                choices=[
                                    ("hpo", "Human Phenotype Ontology"),
                                    ("genes", "Gene catalogue"),
                                ],
                                max_length=16,
                            ),
                        ),
                        ("version", models.CharField(max_length=64)),
                        ("source_paths", models.JSONField(default=dict)),
                        ("summary", models.JSONField(default=dict)),
                        ("loaded_at", models.DateTimeField(auto_now_add=True)),
                    ],
                    options={
                        "db_table": "matching_referencerelease",
                        "ordering": ["-loaded_at", "-id"],
                        "get_latest_by": "loaded_at",
                    },
                ),
            ],
        ),
        migrations.RunPython(move_content_type, migrations.RunPython.noop),
    ]
