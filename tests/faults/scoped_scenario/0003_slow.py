"""Adds a column, runs a slow statement, adds another column, to gadgets only.

As ``slow_scenario.0002_slow``: the file named by ``FAULT_STARTED`` is
created before the statement, which lasts ``FAULT_SLEEP`` seconds; with
``FAULT_FAIL`` set the migration then fails. It declares what its code
writes, so the plan's backup can be scoped.
"""

import os
import time
from pathlib import Path

from django.db import migrations, models


def slow(apps, schema_editor):
    started = os.environ.get("FAULT_STARTED")
    if started:
        Path(started).touch()
    seconds = float(os.environ.get("FAULT_SLEEP", "0"))
    connection = schema_editor.connection
    if connection.vendor == "sqlite":
        time.sleep(seconds)
    else:
        sleep = "pg_sleep" if connection.vendor == "postgresql" else "SLEEP"
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {sleep}(%s)", [seconds])
    if os.environ.get("FAULT_FAIL"):
        raise RuntimeError("scenario.0003_slow fails on purpose (FAULT_FAIL)")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_color")]
    migration_guard_writes = ["scenario.Gadget"]
    operations = [
        migrations.AddField("gadget", "weight", models.IntegerField(null=True)),
        migrations.RunPython(slow, migrations.RunPython.noop),
        migrations.AddField("gadget", "height", models.IntegerField(null=True)),
    ]
