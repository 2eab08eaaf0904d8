from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_box_scratch")]
    operations = [
        migrations.RemoveField("box", "scratch"),
    ]
