"""Adds a column, runs a slow statement, adds another column.

The slow statement is the database's own sleep (PostgreSQL ``pg_sleep``,
MariaDB ``SLEEP``); SQLite has none, so Python sleeps there. Before it, the
file named by ``FAULT_STARTED`` is created, so a test knows the statement runs.
Its length is ``FAULT_SLEEP`` seconds. On MariaDB the first column stays when
the run is cut short (no DDL rollback). ``FAULT_SLEEP_ON`` (an alias), when
set, limits the pause and the file to that database (a run on several).
"""

import os
import time
from pathlib import Path

from django.db import migrations, models


def slow(apps, schema_editor):
    only = os.environ.get("FAULT_SLEEP_ON")
    if only and schema_editor.connection.alias != only:
        return
    started = os.environ.get("FAULT_STARTED")
    if started:
        Path(started).touch()
    seconds = float(os.environ.get("FAULT_SLEEP", "0"))
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        time.sleep(seconds)
        return
    sleep = "pg_sleep" if connection.vendor == "postgresql" else "SLEEP"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {sleep}(%s)", [seconds])


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField(
            "widget", "color", models.CharField(max_length=20, default="red")
        ),
        migrations.RunPython(slow, migrations.RunPython.noop),
        migrations.AddField("widget", "weight", models.IntegerField(null=True)),
    ]
