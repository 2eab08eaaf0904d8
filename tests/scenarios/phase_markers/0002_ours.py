from django.db import migrations


class Migration(migrations.Migration):
    """RunSQL is post-deploy unless marked: this one keeps old code working."""

    migration_guard_phase = "pre-deploy"
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.RunSQL(
            "UPDATE scenario_item SET name = name", migrations.RunSQL.noop
        ),
    ]
