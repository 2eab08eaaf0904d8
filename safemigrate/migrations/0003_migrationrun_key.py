"""The ``key`` column of the ledger: a run's identity across restores.

Like the table itself, the column may already exist: safemigrate's first run
on a database creates the table from the model, and a run on an older ledger
adds the column before writing (:func:`safemigrate.ledger.ensure_table`).
Rows written before have no key (NULL); restores match them by id, start and
command.
"""

from django.db import migrations, models

from safemigrate.ledger import add_field_if_missing


def add_key(apps, schema_editor):
    model = apps.get_model("safemigrate", "MigrationRun")
    add_field_if_missing(model, model._meta.get_field("key"), schema_editor)


class Migration(migrations.Migration):
    # numbered 0003: 0002 (the runtime column) comes from the crash-recovery
    # branch; when both are merged this depends on 0002_migrationrun_runtime
    dependencies = [("safemigrate", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="migrationrun",
                    name="key",
                    field=models.UUIDField(
                        blank=True, db_index=True, editable=False, null=True
                    ),
                ),
            ],
            database_operations=[],
        ),
        migrations.RunPython(add_key, migrations.RunPython.noop, atomic=False),
    ]
