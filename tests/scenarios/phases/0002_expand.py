from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("book", "isbn", models.CharField(max_length=13, null=True)),
        migrations.AddField("book", "pages", models.IntegerField(db_default=0)),
        migrations.AlterModelOptions("book", {"ordering": ["title"]}),
    ]
