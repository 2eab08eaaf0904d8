from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0007_book_title_index")]
    operations = [
        migrations.AddField(
            "book",
            "author",
            models.ForeignKey("scenario.author", models.CASCADE, null=True),
        ),
    ]
