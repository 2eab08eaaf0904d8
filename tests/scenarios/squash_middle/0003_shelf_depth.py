from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_remove_width")]
    operations = [
        migrations.AddField("shelf", "depth", models.IntegerField(null=True)),
    ]
