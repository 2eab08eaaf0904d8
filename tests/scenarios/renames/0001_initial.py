import decimal
import functools
import re

from django.core.validators import RegexValidator
from django.db import migrations, models
from django.utils.translation import gettext_lazy as _


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "code",
                    models.CharField(
                        max_length=20,
                        unique=True,
                        verbose_name=_("code"),
                        validators=[RegexValidator(re.compile(r"^[a-z]+$", re.I))],
                    ),
                ),
                (
                    "price",
                    models.DecimalField(
                        max_digits=6, decimal_places=2, default=decimal.Decimal("1.10")
                    ),
                ),
                ("ratio", models.FloatField(default=0.1)),
                (
                    "note",
                    models.CharField(
                        max_length=30, default=functools.partial(str, "none")
                    ),
                ),
            ],
            options={
                "verbose_name": _("tag"),
                "unique_together": {
                    ("code", "price"),
                    ("price", "ratio"),
                    ("note", "ratio"),
                    ("code", "note"),
                },
            },
        ),
        migrations.CreateModel(
            name="Item",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                (
                    "tag",
                    models.ForeignKey(
                        "scenario.tag", models.CASCADE, to_field="code", null=True
                    ),
                ),
            ],
        ),
        migrations.RunPython(
            lambda apps, schema_editor: None,
            migrations.RunPython.noop,
            hints={"marker": object()},
        ),
    ]
