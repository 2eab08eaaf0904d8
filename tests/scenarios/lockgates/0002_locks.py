from django.db import migrations, models


class Migration(migrations.Migration):
    """Every operation here locks the existing scenario_book on some backend."""

    migration_guard_silence = ["migration_guard.W013"]  # mixed phases, on purpose
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddIndex(
            "book", models.Index(fields=["title"], name="book_title_idx")
        ),
        migrations.AddConstraint(
            "book", models.UniqueConstraint(fields=["code"], name="book_code_uniq")
        ),
        migrations.AddField(
            "book",
            "author",
            models.ForeignKey("scenario.author", models.SET_NULL, null=True),
        ),
        migrations.AddConstraint(
            "book",
            models.CheckConstraint(
                condition=models.Q(pages__gte=0), name="book_pages_positive"
            ),
        ),
        migrations.AlterField("book", "rank", models.BigIntegerField(null=True)),
        migrations.AlterField("book", "code", models.CharField(max_length=100)),
        migrations.AlterField(
            "book", "subtitle", models.CharField(max_length=50, default="")
        ),
    ]
