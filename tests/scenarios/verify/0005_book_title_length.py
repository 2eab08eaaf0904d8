from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_book_pages")]
    operations = [
        migrations.AlterField("book", "title", models.CharField(max_length=300)),
    ]
