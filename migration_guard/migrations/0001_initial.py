"""The ledger table.

migration_guard writes its ledger from the first deploy on, before this migration
has run, so the table may already exist: the state is created by
``SeparateDatabaseAndState`` and the table only when it is missing. Unapplying
keeps the table: the ledger is an audit trail, and it is found again when the
migration is re-applied.
"""

from django.db import migrations, models

from migration_guard.run.ledger import create_table_if_missing


def create_ledger_table(apps, schema_editor):
    """Create the ledger table unless a first guardedmigrate run already did."""
    create_table_if_missing(
        apps.get_model("migration_guard", "MigrationRun"), schema_editor
    )


class Migration(migrations.Migration):
    initial = True

    dependencies = []

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="MigrationRun",
                    fields=[
                        (
                            "id",
                            models.BigAutoField(
                                auto_created=True,
                                primary_key=True,
                                serialize=False,
                                verbose_name="ID",
                            ),
                        ),
                        ("alias", models.CharField(max_length=100)),
                        ("vendor", models.CharField(max_length=30)),
                        (
                            "command",
                            models.CharField(default="guardedmigrate", max_length=50),
                        ),
                        (
                            "user",
                            models.CharField(blank=True, default="", max_length=150),
                        ),
                        (
                            "host",
                            models.CharField(blank=True, default="", max_length=255),
                        ),
                        ("argv", models.JSONField(default=list)),
                        (
                            "direction",
                            models.CharField(
                                choices=[
                                    ("forwards", "forwards"),
                                    ("backwards", "backwards"),
                                    ("none", "none"),
                                ],
                                default="none",
                                max_length=10,
                            ),
                        ),
                        ("fake", models.BooleanField(default=False)),
                        ("plan", models.JSONField(default=list)),
                        ("applied_before", models.JSONField(default=list)),
                        ("executed", models.JSONField(default=list)),
                        (
                            "outcome",
                            models.CharField(
                                choices=[
                                    ("running", "running"),
                                    ("success", "success"),
                                    ("noop", "nothing to do"),
                                    ("failed", "failed"),
                                    ("restored", "failed, restored"),
                                    ("restore_failed", "failed, restore failed"),
                                    ("interrupted", "interrupted"),
                                ],
                                default="running",
                                max_length=20,
                            ),
                        ),
                        ("error", models.TextField(blank=True, default="")),
                        ("started_at", models.DateTimeField()),
                        ("finished_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "backup_id",
                            models.CharField(blank=True, default="", max_length=100),
                        ),
                        (
                            "backup_note",
                            models.CharField(blank=True, default="", max_length=200),
                        ),
                        (
                            "django_version",
                            models.CharField(blank=True, default="", max_length=20),
                        ),
                        (
                            "migration_guard_version",
                            models.CharField(blank=True, default="", max_length=20),
                        ),
                        ("runtime", models.JSONField(blank=True, default=dict)),
                        (
                            "key",
                            models.UUIDField(
                                blank=True, db_index=True, editable=False, null=True
                            ),
                        ),
                        ("log_position", models.JSONField(blank=True, default=dict)),
                    ],
                    options={
                        "ordering": ["-started_at", "-id"],
                        "indexes": [
                            models.Index(
                                fields=["alias", "-started_at"],
                                name="migration_guard_run_alias",
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        # DDL: never inside a transaction on databases that cannot roll it back
        migrations.RunPython(
            create_ledger_table, migrations.RunPython.noop, atomic=False
        ),
    ]
