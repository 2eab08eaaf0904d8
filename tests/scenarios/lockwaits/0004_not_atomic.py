"""A non-atomic migration: never retried after a lock timeout."""

from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False
    dependencies = [("scenario", "0003_gadget_then_widget")]
    operations = [
        migrations.AddField("widget", "height", models.IntegerField(null=True)),
    ]
