from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_note")]
    operations = [migrations.RunSQL(migrations.RunSQL.noop, migrations.RunSQL.noop)]
