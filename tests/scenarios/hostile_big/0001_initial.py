from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.CreateModel(
            name="Big",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("payload", models.CharField(max_length=200)),
            ],
        ),
        migrations.CreateModel(
            name="Other",
            fields=[
                ("id", models.AutoField(primary_key=True)),
                ("payload", models.CharField(max_length=200)),
            ],
        ),
    ]
