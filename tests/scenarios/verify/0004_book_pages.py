from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_author_email")]
    operations = [
        migrations.AddField("book", "pages", models.IntegerField(default=0)),
    ]
