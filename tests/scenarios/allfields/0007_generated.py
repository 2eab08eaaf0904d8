"""A generated column (Django 5.0+): its expression is the database's own."""

from django.db import migrations, models
from django.db.models.functions import Lower


class Migration(migrations.Migration):
    dependencies = [("scenario", "0006_backend_dependent")]
    operations = [
        migrations.AddField(
            "everything",
            "email_lower",
            models.GeneratedField(
                expression=Lower("email"),
                output_field=models.CharField(max_length=254),
                db_persist=True,
            ),
        ),
    ]
