"""A model the state adopts; the database is not touched."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_gadget_code")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Legacy",
                    fields=[
                        ("id", models.AutoField(primary_key=True, serialize=False)),
                        ("label", models.CharField(max_length=10)),
                    ],
                    options={"db_table": "scenario_legacy"},
                ),
            ],
            database_operations=[],
        ),
    ]
