"""W010, silenced for this migration."""

from django.db import migrations


def forwards(apps, schema_editor):
    apps.get_model("dmapp", "Person").objects.update(status="active")


class Migration(migrations.Migration):
    migration_guard_silence = ["migration_guard.W010"]

    dependencies = [("dmapp", "0006_helpers")]

    operations = [migrations.RunPython(forwards)]
