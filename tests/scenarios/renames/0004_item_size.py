from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_rename_tag")]
    operations = [migrations.AddField("item", "size", models.IntegerField(null=True))]
