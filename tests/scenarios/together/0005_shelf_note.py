from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_rename_width")]
    operations = [
        migrations.AddField("shelf", "note", models.TextField(default="")),
    ]
