"""Marked the way django-safemigrate 5 marks migrations (Safe.always())."""

from django.db import migrations

from tests.scenarios.phase_markers._safe import Safe


class Migration(migrations.Migration):
    safe = Safe.always()
    dependencies = [("scenario", "0003_syzygy")]
    operations = [
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
    ]
