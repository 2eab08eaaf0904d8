from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_backfill")]
    operations = [migrations.RenameModel("Author", "Writer")]
