"""W012 for forwards (the imported model); backwards shadows the name: fine."""

from django.db import migrations

from tests.datamigration_app.models import Person


def forwards(apps, schema_editor):
    Person.objects.using(schema_editor.connection.alias).update(status="left")


def backwards(apps, schema_editor):
    Person = apps.get_model("dmapp", "Person")
    Person.objects.using(schema_editor.connection.alias).update(status="active")


class Migration(migrations.Migration):
    dependencies = [("dmapp", "0004_choices_and_data")]

    operations = [migrations.RunPython(forwards, backwards)]
