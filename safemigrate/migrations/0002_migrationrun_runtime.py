"""The ``runtime`` column of the ledger (the run's process, crash recovery).

Like the table itself, the column may already exist: safemigrate's first run
on a database creates the table from the model, and a run on an older ledger
adds the column before writing (:func:`safemigrate.ledger.ensure_table`).
"""

from django.db import migrations, models

from safemigrate.ledger import add_field_if_missing


def add_runtime(apps, schema_editor):
    model = apps.get_model("safemigrate", "MigrationRun")
    add_field_if_missing(model, model._meta.get_field("runtime"), schema_editor)


class Migration(migrations.Migration):
    dependencies = [("safemigrate", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="migrationrun",
                    name="runtime",
                    field=models.JSONField(blank=True, default=dict),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(add_runtime, migrations.RunPython.noop, atomic=False),
    ]
