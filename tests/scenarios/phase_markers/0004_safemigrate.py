"""Marked the way django-safemigrate 5 marks migrations (Safe.always())."""

import enum
from dataclasses import dataclass

from django.db import migrations


class When(enum.Enum):
    ALWAYS = "always"
    BEFORE_DEPLOY = "before_deploy"
    AFTER_DEPLOY = "after_deploy"


@dataclass
class Safe:
    when: When

    @classmethod
    def always(cls):
        return cls(When.ALWAYS)

    @classmethod
    def after_deploy(cls):
        return cls(When.AFTER_DEPLOY)


class Migration(migrations.Migration):
    safe = Safe.always()
    dependencies = [("scenario", "0003_syzygy")]
    operations = [
        migrations.RunSQL("SELECT 1", migrations.RunSQL.noop),
    ]
