from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("book", "pages", models.IntegerField(null=True)),
        migrations.AddIndex(
            "shelf", models.Index(fields=["size"], name="shelf_size_idx")
        ),
    ]
