"""The ``runtime`` column of the ledger (the run's process, crash recovery).

Like the table itself, the column may already exist: safemigrate's first run
on a database creates the table from the model, and a run on an older ledger
adds the column before writing (:func:`safemigrate.ledger.ensure_table`).
"""

from django.db import migrations, models

from safemigrate.ledger import AddFieldIfMissing


class Migration(migrations.Migration):
    dependencies = [("safemigrate", "0001_initial")]

    operations = [
        AddFieldIfMissing(
            model_name="migrationrun",
            name="runtime",
            field=models.JSONField(blank=True, default=dict),
        ),
    ]
