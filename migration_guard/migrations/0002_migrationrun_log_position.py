"""Where the database's own log was just before each run (point-in-time recovery).

guardedmigrate adds the column itself when a run finds an older ledger
(``ledger.ensure_table``), so it may be there already: the state is changed
by ``SeparateDatabaseAndState`` and the column added only when it is missing.
"""

from django.db import migrations, models

from migration_guard.run.ledger import add_field_if_missing


def add_log_position(apps, schema_editor):
    model = apps.get_model("migration_guard", "MigrationRun")
    add_field_if_missing(model, model._meta.get_field("log_position"), schema_editor)


class Migration(migrations.Migration):
    dependencies = [("migration_guard", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="migrationrun",
                    name="log_position",
                    field=models.JSONField(blank=True, default=dict),
                ),
            ],
            database_operations=[],
        ),
        # DDL: never inside a transaction on databases that cannot roll it back
        migrations.RunPython(add_log_position, migrations.RunPython.noop, atomic=False),
    ]
