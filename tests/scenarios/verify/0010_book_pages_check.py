from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0009_author_name_email_unique")]
    operations = [
        migrations.AddConstraint(
            "book",
            models.CheckConstraint(
                condition=models.Q(pages__gte=0), name="book_pages_gte_0"
            ),
        ),
    ]
