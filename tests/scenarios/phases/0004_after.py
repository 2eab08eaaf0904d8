from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_contract")]
    operations = [
        migrations.AddField("author", "bio", models.TextField(null=True)),
    ]
