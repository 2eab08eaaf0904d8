from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_rename")]
    operations = [
        migrations.RemoveField("book", "tags"),
        migrations.DeleteModel("Tag"),
    ]
