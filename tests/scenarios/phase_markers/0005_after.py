from django.db import migrations, models

from tests.scenarios.phase_markers import _safe


class Migration(migrations.Migration):
    """Nullable: pre-deploy by its operations, but marked after the deploy."""

    safe = _safe.Safe.after_deploy()
    dependencies = [("scenario", "0004_safemigrate")]
    operations = [
        migrations.AddField("item", "note", models.CharField(max_length=20, null=True)),
    ]
