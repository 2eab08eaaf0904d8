from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0005_drop")]
    operations = [migrations.DeleteModel("Thing")]
