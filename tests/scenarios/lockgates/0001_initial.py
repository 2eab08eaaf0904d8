from django.db import migrations, models


class Migration(migrations.Migration):
    """New tables: their indexes and constraints block nobody."""

    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            "Author",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("name", models.CharField(max_length=50)),
            ],
        ),
        migrations.CreateModel(
            "Book",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("title", models.CharField(max_length=50)),
                ("subtitle", models.CharField(max_length=50, null=True)),
                ("pages", models.IntegerField(null=True)),
                ("rank", models.IntegerField(null=True)),
                ("code", models.CharField(max_length=10)),
            ],
        ),
        migrations.AddIndex(
            "book", models.Index(fields=["subtitle"], name="book_subtitle_idx")
        ),
        migrations.AddConstraint(
            "book",
            models.CheckConstraint(
                condition=models.Q(rank__gte=0), name="book_rank_positive"
            ),
        ),
    ]
