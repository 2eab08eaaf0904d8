from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_slow")]
    operations = [
        migrations.AddField("item", "note", models.CharField(max_length=20, null=True)),
    ]
