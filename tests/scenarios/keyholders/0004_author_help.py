from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_author_name")]
    operations = [
        migrations.AlterField(
            model_name="author",
            name="name",
            field=models.CharField(help_text="Pen name.", max_length=40, unique=True),
        ),
    ]
