"""Adds two columns, then raises: on MariaDB the columns stay (no DDL rollback)."""

from django.db import migrations, models


def explode(apps, schema_editor):
    raise RuntimeError("boom: scenario migration failed on purpose")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("widget", "color", models.CharField(max_length=20, default="red")),
        migrations.AddField("widget", "weight", models.IntegerField(null=True)),
        migrations.RunPython(explode, migrations.RunPython.noop),
    ]
