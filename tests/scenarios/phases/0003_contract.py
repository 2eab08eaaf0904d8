from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_expand")]
    operations = [migrations.RemoveField("book", "legacy")]
