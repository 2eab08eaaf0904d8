from django.db import migrations, models


class Migration(migrations.Migration):
    """A type change (a rewrite), then a second of work under its lock."""

    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AlterField("item", "qty", models.BigIntegerField(default=0)),
        migrations.RunSQL("SELECT pg_sleep(1)", migrations.RunSQL.noop),
    ]
