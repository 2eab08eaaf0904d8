from django.db import migrations, models


def fail(apps, schema_editor):
    raise RuntimeError("0003_fail fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_alter")]
    migration_guard_writes = ["scenario.Item"]
    operations = [
        migrations.AddField(
            "item", "code", models.CharField(max_length=10, default="x")
        ),
        migrations.RunPython(fail, migrations.RunPython.noop),
    ]
