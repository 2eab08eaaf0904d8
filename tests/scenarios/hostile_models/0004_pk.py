from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_rename_tag")]
    operations = [
        migrations.AlterField("thing", "id", models.BigAutoField(primary_key=True)),
    ]
