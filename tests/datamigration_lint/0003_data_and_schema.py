"""W011: a column added and filled in one migration."""

from django.db import migrations, models


def fill(apps, schema_editor):
    Person = apps.get_model("dmapp", "Person")
    Person.objects.using(schema_editor.connection.alias).update(nickname="x")


class Migration(migrations.Migration):
    dependencies = [("dmapp", "0002_no_reverse")]

    operations = [
        migrations.AddField(
            model_name="person",
            name="nickname",
            field=models.CharField(default="", max_length=50),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
