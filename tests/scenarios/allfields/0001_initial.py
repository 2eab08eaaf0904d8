"""Every built-in field type, every kind of relation and constraint.

Also a proxy model and an unmanaged one, which have no table of their own
to verify, and a db_table and a db_column override.
"""

from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies = []
    operations = [
        migrations.CreateModel(
            name="Owner",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
        migrations.CreateModel(
            name="Tag",
            fields=[
                ("id", models.SmallAutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=30, unique=True)),
            ],
        ),
        migrations.CreateModel(
            name="Obsolete",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("owner", models.ForeignKey("scenario.owner", models.CASCADE)),
            ],
        ),
        migrations.CreateModel(
            name="Everything",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("char", models.CharField(max_length=100)),
                ("text", models.TextField()),
                ("slug", models.SlugField()),
                ("email", models.EmailField(max_length=254)),
                ("url", models.URLField()),
                ("uuid", models.UUIDField(unique=True)),
                ("data", models.JSONField(null=True)),
                ("decimal", models.DecimalField(max_digits=12, decimal_places=2)),
                ("float", models.FloatField()),
                ("integer", models.IntegerField()),
                ("big", models.BigIntegerField()),
                ("small", models.SmallIntegerField(db_index=True)),
                ("positive", models.PositiveIntegerField()),
                ("positive_big", models.PositiveBigIntegerField()),
                ("positive_small", models.PositiveSmallIntegerField()),
                ("flag", models.BooleanField(default=False)),
                ("maybe", models.BooleanField(null=True)),
                ("day", models.DateField()),
                ("moment", models.DateTimeField()),
                ("clock", models.TimeField()),
                ("span", models.DurationField()),
                ("blob", models.BinaryField()),
                ("ip", models.GenericIPAddressField(null=True)),
                ("upload", models.FileField(upload_to="uploads/")),
                ("path", models.FilePathField(path="/tmp")),
                ("code", models.CharField(max_length=8, db_column="legacy_code")),
                ("obsolete", models.IntegerField(null=True)),
                (
                    "owner",
                    models.ForeignKey(
                        "scenario.owner", models.PROTECT, related_name="things"
                    ),
                ),
                (
                    "partner",
                    models.OneToOneField(
                        "scenario.owner",
                        models.SET_NULL,
                        null=True,
                        related_name="partner_of",
                    ),
                ),
                ("tags", models.ManyToManyField("scenario.tag")),
                ("friends", models.ManyToManyField("self")),
            ],
            options={
                "db_table": "allfields_everything",
                "unique_together": {("char", "integer")},
                "indexes": [
                    models.Index(fields=["day", "clock"], name="everything_day_clock"),
                    models.Index(
                        fields=["big"],
                        condition=models.Q(big__gt=0),
                        name="everything_big_partial",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=["email", "url"], name="everything_email_url"
                    ),
                    models.UniqueConstraint(
                        fields=["slug"],
                        condition=models.Q(flag=True),
                        name="everything_slug_flagged",
                    ),
                    models.CheckConstraint(
                        condition=models.Q(decimal__gte=0),
                        name="everything_decimal_gte_0",
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="OwnerProxy",
            fields=[],
            options={"proxy": True},
            bases=("scenario.owner",),
        ),
        migrations.CreateModel(
            name="Legacy",
            fields=[
                ("id", models.AutoField(primary_key=True, serialize=False)),
                ("name", models.CharField(max_length=10)),
                ("thing", models.ForeignKey("scenario.everything", models.DO_NOTHING)),
            ],
            options={"managed": False, "db_table": "legacy_external"},
        ),
    ]
