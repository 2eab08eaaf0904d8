"""AddIndex/RemoveIndex, AddConstraint/RemoveConstraint."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_removals")]
    operations = [
        migrations.RemoveIndex("everything", "everything_day_clock"),
        migrations.AddIndex(
            "everything", models.Index(fields=["moment"], name="everything_moment")
        ),
        migrations.RemoveConstraint("everything", "everything_email_url"),
        migrations.AddConstraint(
            "everything",
            models.UniqueConstraint(fields=["url", "code"], name="everything_url_code"),
        ),
        migrations.AddConstraint(
            "everything",
            models.CheckConstraint(
                condition=models.Q(positive__lte=1000), name="everything_positive_lte"
            ),
        ),
    ]
