import django.db.models.deletion
from django.db import migrations, models


def fail(apps, schema_editor):
    raise RuntimeError("crates cannot be filled")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_shelf_label")]
    migration_guard_writes = ["scenario.Crate"]
    operations = [
        migrations.CreateModel(
            name="Crate",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                (
                    "shelf",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        to="scenario.shelf",
                    ),
                ),
            ],
        ),
        migrations.RemoveField("shelf", "size"),
        migrations.RunPython(fail, migrations.RunPython.noop),
    ]
