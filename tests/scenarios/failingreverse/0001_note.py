"""A backward step that raises: its reverse drops a table that does not exist."""

from django.db import migrations


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.RunSQL(
            "CREATE TABLE scenario_note (id integer PRIMARY KEY)",
            "DROP TABLE scenario_nothere",
        )
    ]
