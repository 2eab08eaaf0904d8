"""Adds two columns, then raises: MariaDB keeps the columns (no DDL rollback)."""

from django.db import migrations, models


def explode(apps, schema_editor):
    raise RuntimeError("boom: failed after adding two columns")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_sample_extra")]
    operations = [
        migrations.AddField("sample", "color", models.CharField(max_length=20, default="red")),
        migrations.AddField("sample", "weight", models.IntegerField(null=True)),
        migrations.RunPython(explode, migrations.RunPython.noop),
    ]
