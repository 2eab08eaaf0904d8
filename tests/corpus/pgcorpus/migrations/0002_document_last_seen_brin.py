import django.contrib.postgres.indexes
import django.contrib.postgres.operations
import django.db.models.expressions
from django.db import migrations


class Migration(migrations.Migration):
    atomic = False

    dependencies = [("pgcorpus", "0001_initial")]

    operations = [
        django.contrib.postgres.operations.AddIndexConcurrently(
            model_name="document",
            index=django.contrib.postgres.indexes.BrinIndex(
                django.db.models.expressions.F("last_seen"),
                autosummarize=True,
                name="doc_last_seen_brin",
            ),
        ),
    ]
