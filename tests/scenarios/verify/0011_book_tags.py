from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0010_book_pages_check")]
    operations = [
        migrations.AddField("book", "tags", models.ManyToManyField("scenario.tag")),
    ]
