from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [migrations.AlterModelTable("item", "hostile_items")]
