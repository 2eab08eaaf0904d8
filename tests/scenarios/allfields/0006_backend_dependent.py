"""Indexes and constraints that some backends create differently or not at all.

MySQL has no partial indexes (Django drops the condition of an index, and
skips a conditional unique constraint), MariaDB no expression indexes; only
PostgreSQL has covering, deferrable and NULLS NOT DISTINCT unique constraints
and operator classes.
"""

from django.db import migrations, models
from django.db.models.functions import Lower


class Migration(migrations.Migration):
    dependencies = [("scenario", "0005_indexes_constraints")]
    operations = [
        migrations.AddIndex(
            "everything",
            models.Index(
                fields=["float"], include=["small"], name="everything_float_incl"
            ),
        ),
        migrations.AddIndex(
            "everything", models.Index(Lower("email"), name="everything_lower_email")
        ),
        migrations.AddIndex(
            "everything",
            models.Index(fields=["-moment", "clock"], name="everything_latest"),
        ),
        migrations.AddIndex(
            "everything",
            models.Index(
                fields=["char"],
                opclasses=["varchar_pattern_ops"],
                name="everything_char_ops",
            ),
        ),
        migrations.AddConstraint(
            "everything",
            models.UniqueConstraint(
                Lower("char"), "day", name="everything_lower_char_day"
            ),
        ),
        migrations.AddConstraint(
            "everything",
            models.UniqueConstraint(
                fields=["big"], include=["small"], name="everything_big_incl"
            ),
        ),
        migrations.AddConstraint(
            "everything",
            models.UniqueConstraint(
                fields=["moment"],
                deferrable=models.Deferrable.DEFERRED,
                name="everything_moment_deferred",
            ),
        ),
        migrations.AddConstraint(
            "everything",
            models.UniqueConstraint(
                fields=["maybe", "clock"],
                nulls_distinct=False,
                name="everything_maybe_clock_nnd",
            ),
        ),
    ]
