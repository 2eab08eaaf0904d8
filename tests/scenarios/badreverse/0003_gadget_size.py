from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_legacy_code")]
    operations = [
        migrations.AddField("gadget", "size", models.IntegerField(default=0)),
    ]
