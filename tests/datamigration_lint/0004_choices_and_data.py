"""Nothing: new choices change no column, so this is a data migration only."""

from django.db import migrations, models


def rename(apps, schema_editor):
    Person = apps.get_model("dmapp", "Person")
    rows = Person.objects.using(schema_editor.connection.alias)
    rows.filter(status="x").update(status="active")


class Migration(migrations.Migration):
    dependencies = [("dmapp", "0003_data_and_schema")]

    operations = [
        migrations.AlterField(
            model_name="person",
            name="status",
            field=models.CharField(
                choices=[("active", "Active"), ("left", "Left")],
                default="active",
                max_length=20,
            ),
        ),
        migrations.AlterModelOptions(name="person", options={"ordering": ["id"]}),
        migrations.RunPython(rename, migrations.RunPython.noop),
    ]
