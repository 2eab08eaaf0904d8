"""Reads the session's timeouts while it runs, into ``SEEN`` (for the tests)."""

from django.db import migrations

from tests.scenarios.lockwaits import SEEN

QUERIES = {
    "postgresql": "SELECT current_setting('lock_timeout'), "
    "current_setting('statement_timeout')",
    "mysql": "SELECT @@SESSION.lock_wait_timeout, @@SESSION.innodb_lock_wait_timeout, "
    "@@SESSION.max_statement_time",
    "sqlite": "PRAGMA busy_timeout",
}


def read(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(QUERIES[connection.vendor])
        SEEN["during"] = tuple(cursor.fetchone())


class Migration(migrations.Migration):
    dependencies = [("scenario", "0004_not_atomic")]
    operations = [migrations.RunPython(read, migrations.RunPython.noop)]
