"""Case.matched_with: the scoring basis of the case's last local matching.

Cases that own a current local match were matched by an earlier release, whose scoring basis
was not recorded: they get "unrecorded", so that the re-scoring sweep matches each of them again
(matchmaker.casework.services.rescoring), not only those whose own copy of a pair is stale.
Cases never matched keep "": a sweep does not match them (`match --all` does).
"""

from django.db import migrations, models

UNRECORDED = "unrecorded"


def mark_matched_cases(apps, schema_editor):
    case = apps.get_model("cases", "Case")
    match = apps.get_model("casework", "Match")
    owners = match.objects.filter(direction="local", removed_at__isnull=True).values("case_id")
    case.objects.filter(pk__in=owners).update(matched_with=UNRECORDED)


class Migration(migrations.Migration):
    dependencies = [
        ("cases", "0003_submitted_variant_details"),
        ("casework", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="case",
            name="matched_with",
            field=models.CharField(blank=True, db_default="", default="", max_length=200),
        ),
        migrations.RunPython(mark_matched_cases, migrations.RunPython.noop, elidable=True),
    ]
