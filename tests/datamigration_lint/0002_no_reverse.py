"""W010 twice (operations 0 and 1); operations 2 and 3 reverse with noop."""

from django.db import migrations


def activate(apps, schema_editor):
    Person = apps.get_model("dmapp", "Person")
    Person.objects.using(schema_editor.connection.alias).update(status="active")


class Migration(migrations.Migration):
    dependencies = [("dmapp", "0001_initial")]

    operations = [
        migrations.RunPython(activate),
        migrations.RunSQL("UPDATE dmapp_person SET status = 'x'"),
        migrations.RunPython(activate, migrations.RunPython.noop),
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
    ]
