from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_after")]
    operations = [
        migrations.CreateModel(
            "Shelf",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("label", models.CharField(max_length=20)),
            ],
        ),
        migrations.AlterField("book", "title", models.CharField(max_length=60)),
        migrations.RemoveField("author", "bio"),
    ]
