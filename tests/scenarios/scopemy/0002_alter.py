import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("item", "price", models.IntegerField(null=True)),
        migrations.CreateModel(
            name="Extra",
            fields=[
                ("id", models.BigAutoField(primary_key=True)),
                (
                    "item",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        to="scenario.item",
                    ),
                ),
            ],
        ),
    ]
