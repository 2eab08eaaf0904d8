"""The ``key`` column of the ledger: a run's identity across restores.

Like the table itself, the column may already exist: safemigrate's first run
on a database creates the table from the model, and a run on an older ledger
adds the column before writing (:func:`safemigrate.ledger.ensure_table`), so
it is added only when it is missing (:class:`~safemigrate.ledger.AddFieldIfMissing`).
Rows written before have no key (NULL); restores match them by id, start and
command.
"""

from django.db import migrations, models

from safemigrate.ledger import AddFieldIfMissing


class Migration(migrations.Migration):
    # numbered 0003: 0002 (the runtime column) comes from the crash-recovery
    # branch; when both are merged this depends on 0002_migrationrun_runtime
    dependencies = [("safemigrate", "0002_migrationrun_runtime")]

    operations = [
        AddFieldIfMissing(
            model_name="migrationrun",
            name="key",
            field=models.UUIDField(
                blank=True, db_index=True, editable=False, null=True
            ),
        ),
    ]
