from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_shelf_unique")]
    operations = [migrations.AlterUniqueTogether("shelf", set())]
