"""Adds two columns and fills one; fails on the alias ``settings.SCENARIO_FAIL_ON``.

With ``settings.SCENARIO_FAIL_BY_SIGINT``, by a SIGINT to the process (Ctrl-C).

On MariaDB the columns stay when it fails (no DDL rollback): the run on
several databases must restore that database and the ones migrated before it.
"""

import os
import signal
import time

from django.conf import settings
from django.db import migrations, models


def weigh(apps, schema_editor):
    Widget = apps.get_model("scenario", "Widget")
    alias = schema_editor.connection.alias
    Widget.objects.using(alias).update(weight=7)
    if getattr(settings, "SCENARIO_FAIL_ON", None) != alias:
        return
    if getattr(settings, "SCENARIO_FAIL_BY_SIGINT", False):  # Ctrl-C
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(5)  # the handler raises here
    raise RuntimeError(f"boom: scenario migration failed on '{alias}' on purpose")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField(
            "widget", "color", models.CharField(max_length=20, default="red")
        ),
        migrations.AddField("widget", "weight", models.IntegerField(null=True)),
        migrations.RunPython(weigh, migrations.RunPython.noop),
    ]
