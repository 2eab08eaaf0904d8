"""W012 through a helper that imports the models module, and get_user_model()."""

from django.contrib.auth import get_user_model
from django.db import migrations


def people(alias):
    from tests.datamigration_app import models as app_models

    return app_models.Person.objects.using(alias)


def forwards(apps, schema_editor):
    people(schema_editor.connection.alias).update(status="left")


def count_users(apps, schema_editor):
    get_user_model().objects.count()


class Migration(migrations.Migration):
    dependencies = [("dmapp", "0005_current_model")]

    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RunPython(count_users, migrations.RunPython.noop),
    ]
