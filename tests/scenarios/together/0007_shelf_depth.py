from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0006_shelf_parent")]
    operations = [
        migrations.AddField("shelf", "depth", models.IntegerField(default=0)),
    ]
