"""AlterField across uniqueness, indexes, relations, keys and precision."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0007_generated")]
    operations = [
        migrations.AlterField("everything", "uuid", models.UUIDField(db_index=True)),
        migrations.AlterField(
            "everything", "email", models.EmailField(max_length=254, db_index=True)
        ),
        migrations.AlterUniqueTogether("everything", {("char", "big")}),
        migrations.AlterField(
            "everything",
            "partner",
            models.ForeignKey(
                "scenario.owner",
                models.SET_NULL,
                null=True,
                related_name="partner_of",
            ),
        ),
        migrations.AlterField(
            "everything",
            "owner",
            models.ForeignKey("scenario.label", models.PROTECT, related_name="things"),
        ),
        migrations.AlterField("everything", "day", models.DateTimeField()),
        # the foreign keys to it change type with it
        migrations.AlterField(
            "owner", "id", models.BigAutoField(primary_key=True, serialize=False)
        ),
        migrations.AlterField(
            "everything",
            "decimal",
            models.DecimalField(max_digits=14, decimal_places=3),
        ),
    ]
