from django.db import migrations, models

#: a statement that runs for seconds, per backend (SQLite has no sleep: a
#: recursive count that takes a while)
SLOW = {
    "postgresql": "SELECT pg_sleep(10)",
    "mysql": "SELECT SLEEP(10)",
    "sqlite": "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c "
    "WHERE x < 300000) SELECT COUNT(*) FROM c",
}


def slow(apps, schema_editor):
    connection = schema_editor.connection
    with connection.cursor() as cursor:
        cursor.execute(SLOW[connection.vendor])
        cursor.fetchall()


class Migration(migrations.Migration):
    """A column, then a statement that runs longer than the statement timeout."""

    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.AddField("item", "note", models.CharField(max_length=20, null=True)),
        migrations.RunPython(slow, migrations.RunPython.noop),
    ]
