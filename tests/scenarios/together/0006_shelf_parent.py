from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0005_shelf_note")]
    operations = [
        migrations.AddField(
            "shelf",
            "parent",
            models.ForeignKey("scenario.shelf", models.CASCADE, null=True),
        ),
    ]
