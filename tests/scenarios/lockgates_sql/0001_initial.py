from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    dependencies: list[tuple[str, str]] = []
    operations = [
        migrations.CreateModel(
            "Author", [("id", models.BigAutoField(primary_key=True))]
        ),
        migrations.CreateModel(
            "Book",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("title", models.CharField(max_length=100)),
                ("code", models.CharField(max_length=10)),
                ("pages", models.IntegerField(null=True)),
                ("rank", models.IntegerField(null=True)),
                ("subtitle", models.CharField(max_length=50, null=True)),
                ("author_ref", models.BigIntegerField(null=True)),
            ],
        ),
    ]
