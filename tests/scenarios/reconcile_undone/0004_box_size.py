from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_remove_box_scratch")]
    operations = [
        migrations.AddField("box", "size", models.IntegerField(null=True)),
    ]
