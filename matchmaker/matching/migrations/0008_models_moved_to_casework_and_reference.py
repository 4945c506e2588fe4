"""Match, MatchEvent (to casework) and ReferenceRelease (to reference) leave the matching app's
state; their tables stay, now owned by the apps they moved to.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("reference", "0001_initial"),
        ("casework", "0001_initial"),
        ("matching", "0007_match_event_contact"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[],
            state_operations=[
                migrations.RemoveField(
                    model_name="match",
                    name="case",
                ),
                migrations.RemoveField(
                    model_name="match",
                    name="matched_case",
                ),
                migrations.RemoveField(
                    model_name="match",
                    name="peer",
                ),
                migrations.RemoveField(
                    model_name="matchevent",
                    name="match",
                ),
                migrations.RemoveField(
                    model_name="matchevent",
                    name="by",
                ),
                migrations.DeleteModel(
                    name="ReferenceRelease",
                ),
                migrations.DeleteModel(
                    name="Match",
                ),
                migrations.DeleteModel(
                    name="MatchEvent",
                ),
            ],
        ),
    ]
