from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    """The safe ways: a new table, and CREATE INDEX CONCURRENTLY."""

    atomic = False
    dependencies = [("scenario", "0003_silenced")]
    operations = [
        migrations.CreateModel(
            "Shelf",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("label", models.CharField(max_length=20)),
            ],
        ),
        migrations.AddField(
            "shelf",
            "book",
            models.ForeignKey("scenario.book", models.CASCADE, null=True),
        ),
        AddIndexConcurrently(
            "book", models.Index(fields=["rank"], name="book_rank_idx")
        ),
    ]
