from django.db import migrations, models


class Migration(migrations.Migration):
    replaces = [("scenario", "0002_remove_width"), ("scenario", "0003_shelf_depth")]
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.RemoveField("shelf", "width"),
        migrations.AddField("shelf", "depth", models.IntegerField(null=True)),
    ]
