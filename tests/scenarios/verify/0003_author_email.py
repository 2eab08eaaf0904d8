from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_book")]
    operations = [
        migrations.AddField(
            "author", "email", models.EmailField(max_length=254, null=True)
        ),
    ]
