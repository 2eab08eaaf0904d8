"""A custom operation that cannot be reversed, nested in SeparateDatabaseAndState."""

from django.db import migrations


class Freeze(migrations.operations.base.Operation):
    reversible = False
    reduces_to_sql = False

    def state_forwards(self, app_label, state):
        pass

    def database_forwards(self, app_label, schema_editor, from_state, to_state):
        pass

    def database_backwards(self, app_label, schema_editor, from_state, to_state):
        raise NotImplementedError

    def describe(self):
        return "Freeze the widgets"


class Migration(migrations.Migration):
    initial = True
    operations = [
        migrations.SeparateDatabaseAndState(database_operations=[Freeze()]),
    ]
