"""An irreversible RunSQL hidden inside SeparateDatabaseAndState."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_remove_qty")]
    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL("UPDATE scenario_widget SET name = UPPER(name)"),
            ],
            state_operations=[],
        ),
    ]
