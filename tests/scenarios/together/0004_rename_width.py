from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_shelf_not_unique")]
    operations = [migrations.RenameField("shelf", "width", "size")]
