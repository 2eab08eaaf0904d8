from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField(
            model_name="city",
            name="name",
            field=models.CharField(default="", max_length=30),
        ),
    ]
