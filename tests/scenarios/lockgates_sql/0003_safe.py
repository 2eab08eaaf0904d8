from django.db import migrations, models

NOOP = migrations.RunSQL.noop


class Migration(migrations.Migration):
    """The safe spellings, and DDL on tables created in this migration."""

    migration_guard_silence = ["migration_guard.W011", "migration_guard.W013"]
    atomic = False
    dependencies = [("scenario", "0002_sql")]
    operations = [
        migrations.RunSQL(
            "CREATE INDEX CONCURRENTLY book_pages_sql ON scenario_book (pages)", NOOP
        ),
        migrations.RunSQL(
            [
                "SET foreign_key_checks = 0",
                "ALTER TABLE scenario_book ADD CONSTRAINT book_author3_sql "
                "FOREIGN KEY (author_ref) REFERENCES scenario_author (id) NOT VALID",
                "SET foreign_key_checks = 1",
            ],
            NOOP,
        ),
        migrations.RunSQL(
            [
                "CREATE TABLE scenario_fresh (id integer PRIMARY KEY, n integer)",
                "CREATE INDEX fresh_n ON scenario_fresh (n)",
                "ALTER TABLE scenario_fresh ADD CONSTRAINT fresh_n CHECK (n > 0)",
            ],
            NOOP,
        ),
        migrations.CreateModel(
            "Shelf",
            [
                ("id", models.BigAutoField(primary_key=True)),
                ("n", models.IntegerField()),
            ],
        ),
        migrations.RunSQL(
            "ALTER TABLE scenario_shelf ALTER COLUMN n TYPE bigint, "
            "MODIFY n bigint, ADD CONSTRAINT shelf_n CHECK (n > 0)",
            NOOP,
        ),
    ]
