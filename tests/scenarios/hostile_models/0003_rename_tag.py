from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_rename")]
    operations = [migrations.RenameModel("Tag", "Label")]
