from django.db import migrations


def rename_tags(apps, schema_editor):
    apps.get_model("scenario", "Tag").objects.update(name="rewritten")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0002_move_items")]
    # a typo: the code writes scenario_tag
    migration_guard_writes = ["scenario_tga"]
    operations = [migrations.RunPython(rename_tags, migrations.RunPython.noop)]
