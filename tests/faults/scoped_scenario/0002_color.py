from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField(
            "gadget", "color", models.CharField(max_length=20, default="red")
        ),
    ]
