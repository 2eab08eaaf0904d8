"""W010, silenced for this migration."""

from django.db import migrations


def forwards(apps, schema_editor):
    apps.get_model("dmapp", "Person").objects.update(status="active")


class Migration(migrations.Migration):
    safemigrate_silence = ["safemigrate.W010"]

    dependencies = [("dmapp", "0006_helpers")]

    operations = [migrations.RunPython(forwards)]
