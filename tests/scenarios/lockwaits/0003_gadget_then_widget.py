"""Changes an unlocked table first, then the locked one: on MariaDB the first
change is committed when the second waits, so it cannot be retried."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_widget_size")]
    operations = [
        migrations.AddField("gadget", "colour", models.IntegerField(null=True)),
        migrations.AddField("widget", "weight", models.IntegerField(null=True)),
    ]
