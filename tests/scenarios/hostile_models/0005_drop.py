from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_pk")]
    operations = [
        migrations.RemoveField("thing", "tags"),
        migrations.DeleteModel("Label"),
        migrations.RemoveField("note", "item"),
    ]
