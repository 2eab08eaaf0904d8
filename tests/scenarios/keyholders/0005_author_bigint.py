from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_author_help")]
    operations = [
        migrations.AlterField(
            model_name="author",
            name="id",
            field=models.BigAutoField(primary_key=True, serialize=False),
        ),
    ]
