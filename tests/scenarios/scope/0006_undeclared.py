from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0005_drop_tags")]
    operations = [
        migrations.RunSQL("UPDATE scenario_book SET pages = 1", migrations.RunSQL.noop)
    ]
