"""The database gets varchar(40) where the state says 20: the database counts."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    "gadget", "code", models.CharField(max_length=20, null=True)
                ),
            ],
            database_operations=[
                migrations.AddField(
                    "gadget", "code", models.CharField(max_length=40, null=True)
                ),
            ],
        ),
    ]
