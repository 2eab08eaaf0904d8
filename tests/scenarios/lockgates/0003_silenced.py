from django.db import migrations, models


class Migration(migrations.Migration):
    """Known and accepted (a small table): silenced for this migration only."""

    migration_guard_silence = ["migration_guard.W020", "migration_guard.W021"]
    dependencies = [("scenario", "0002_locks")]
    operations = [
        migrations.AddIndex(
            "book", models.Index(fields=["pages"], name="book_pages_idx")
        ),
        migrations.AddField(
            "author", "nick", models.CharField(max_length=10, null=True, unique=True)
        ),
    ]
