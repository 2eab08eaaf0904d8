from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0008_book_author")]
    operations = [
        migrations.AddConstraint(
            "author",
            models.UniqueConstraint(
                fields=["name", "email"], name="author_name_email_uniq"
            ),
        ),
    ]
