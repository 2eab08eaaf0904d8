from django.db import migrations, models


def label(apps, schema_editor):
    shelves = apps.get_model("scenario", "Shelf").objects.all()
    for shelf in shelves:
        shelf.label = f"shelf of {shelf.size}"
        shelf.save(update_fields=["label"])


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    migration_guard_writes = ["scenario.Shelf"]
    operations = [
        migrations.AddField(
            "shelf", "label", models.CharField(max_length=40, default="")
        ),
        migrations.RunPython(label, migrations.RunPython.noop),
    ]
