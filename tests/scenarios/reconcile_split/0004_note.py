"""A table made by SQL, other than the model the state gets."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_adopt_legacy")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Note",
                    fields=[
                        ("id", models.AutoField(primary_key=True, serialize=False)),
                        ("text", models.TextField()),
                        (
                            "gadget",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                to="scenario.gadget",
                            ),
                        ),
                    ],
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    "CREATE TABLE scenario_note (id integer PRIMARY KEY, "
                    "body varchar(10))",
                    "DROP TABLE scenario_note",
                ),
            ],
        ),
    ]
