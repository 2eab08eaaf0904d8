from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0006_book_subtitle")]
    operations = [
        migrations.AddIndex(
            "book", models.Index(fields=["title"], name="book_title_idx")
        ),
    ]
