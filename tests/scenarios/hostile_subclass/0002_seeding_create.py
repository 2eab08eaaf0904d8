from django.db import migrations, models


class SeedingCreateModel(migrations.CreateModel):
    """A third party's operation: a CreateModel that also writes another table."""

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        super().database_forwards(app_label, schema_editor, from_state, to_state)
        schema_editor.execute("UPDATE scenario_tag SET name = 'seeded'")


class Migration(migrations.Migration):
    dependencies = [("scenario", "0001_initial")]
    operations = [
        SeedingCreateModel(
            name="Extra",
            fields=[("id", models.AutoField(primary_key=True))],
        ),
    ]
