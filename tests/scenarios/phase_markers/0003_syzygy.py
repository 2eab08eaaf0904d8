"""Marked the way django-syzygy marks migrations (its Stage enum, copied shape)."""

import enum

from django.db import migrations


class Stage(enum.Enum):
    PRE_DEPLOY = "pre_deploy"
    POST_DEPLOY = "post_deployment"


def touch(apps, schema_editor):
    apps.get_model("scenario", "Item").objects.using(
        schema_editor.connection.alias
    ).update(name="x")


class Migration(migrations.Migration):
    stage = Stage.PRE_DEPLOY
    dependencies = [("scenario", "0002_ours")]
    operations = [migrations.RunPython(touch, migrations.RunPython.noop)]
