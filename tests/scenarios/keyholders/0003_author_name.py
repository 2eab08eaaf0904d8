from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_city_name")]
    operations = [
        migrations.AlterField(
            model_name="author",
            name="name",
            field=models.CharField(max_length=40, unique=True),
        ),
    ]
