from django.db import migrations


def forwards(apps, schema_editor):
    apps.get_model("scenario", "Book").objects.filter(pages=None).update(pages=0)


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_pages")]
    migration_guard_writes = ["scenario.Book", "library_shelf"]
    operations = [
        migrations.RunPython(forwards, migrations.RunPython.noop),
        migrations.RunSQL(
            "UPDATE library_shelf SET size = 0 WHERE size < 0", migrations.RunSQL.noop
        ),
    ]
