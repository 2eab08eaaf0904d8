"""One schema change, on the table the tests lock."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("widget", "size", models.IntegerField(default=0)),
    ]
