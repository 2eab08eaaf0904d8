"""RemoveField, DeleteModel."""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_renames")]
    operations = [
        migrations.RemoveField("everything", "obsolete"),
        migrations.DeleteModel("Obsolete"),
    ]
