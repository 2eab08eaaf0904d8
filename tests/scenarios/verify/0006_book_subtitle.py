from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0005_book_title_length")]
    operations = [
        migrations.AddField(
            "book", "subtitle", models.CharField(max_length=100, default="")
        ),
    ]
