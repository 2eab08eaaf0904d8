"""AlterField: a type, a max_length, a nullability."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AlterField("everything", "integer", models.BigIntegerField()),
        migrations.AlterField("everything", "char", models.CharField(max_length=150)),
        migrations.AlterField("everything", "text", models.TextField(null=True)),
    ]
