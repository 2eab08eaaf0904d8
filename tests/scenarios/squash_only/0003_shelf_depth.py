from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_squashed_0002_shelf_width")]
    operations = [
        migrations.AddField("shelf", "depth", models.IntegerField(null=True)),
    ]
