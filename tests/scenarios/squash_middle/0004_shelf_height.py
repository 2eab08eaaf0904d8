from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_shelf_depth")]
    operations = [
        migrations.AddField("shelf", "height", models.IntegerField(null=True)),
    ]
