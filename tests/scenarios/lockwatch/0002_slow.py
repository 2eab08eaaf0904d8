import time

from django.db import migrations, models


def hold(apps, schema_editor):
    """A second of work under a lock that blocks writes to scenario_item."""
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":  # the AlterField's lock is held
            cursor.execute("SELECT pg_sleep(1)")
        elif connection.vendor == "mysql":  # DDL committed: lock it again
            cursor.execute("LOCK TABLES scenario_item WRITE")
            cursor.execute("SELECT SLEEP(1)")
            cursor.execute("UNLOCK TABLES")
        else:  # SQLite: the migration's transaction holds the database
            cursor.execute("UPDATE scenario_item SET qty = qty")
            time.sleep(1)


class Migration(migrations.Migration):
    """A type change (a rewrite), then a second of work under a lock."""

    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AlterField("item", "qty", models.BigIntegerField(default=0)),
        migrations.RunPython(hold, migrations.RunPython.noop),
    ]
