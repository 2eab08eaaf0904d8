from django.db import migrations

NOOP = migrations.RunSQL.noop


class Migration(migrations.Migration):
    """RunSQL statements that lock the existing scenario_book on some backend.

    Only read by checkmigrations (PostgreSQL and MySQL spellings side by side).
    """

    dependencies = [("scenario", "0001_initial")]
    operations = [
        migrations.RunSQL("CREATE INDEX book_title_sql ON scenario_book (title)", NOOP),
        migrations.RunSQL(
            "-- a comment\nCREATE UNIQUE INDEX book_code_sql ON scenario_book (code);",
            NOOP,
        ),
        migrations.RunSQL(
            "ALTER TABLE scenario_book ADD CONSTRAINT book_author_sql "
            "FOREIGN KEY (author_ref) REFERENCES scenario_author (id)",
            NOOP,
        ),
        migrations.RunSQL(
            "ALTER TABLE scenario_book ADD CONSTRAINT book_pages_sql CHECK (pages >= 0)",
            NOOP,
        ),
        migrations.RunSQL(
            ['ALTER TABLE "scenario_book" ALTER COLUMN "rank" TYPE bigint'], NOOP
        ),
        migrations.RunSQL(
            "SELECT 1; ALTER TABLE scenario_book ALTER COLUMN subtitle SET NOT NULL",
            NOOP,
        ),
        migrations.RunSQL(
            "ALTER TABLE `scenario_book` MODIFY `rank` bigint NULL", NOOP
        ),
        # no finding: a longer varchar (PostgreSQL: no rewrite; MariaDB: INSTANT)
        migrations.RunSQL(
            "ALTER TABLE scenario_book ALTER COLUMN title TYPE varchar(200)", NOOP
        ),
        migrations.RunSQL(
            "ALTER TABLE scenario_book MODIFY title varchar(200) NOT NULL", NOOP
        ),
        # safe on PostgreSQL only: MySQL has no NOT VALID
        migrations.RunSQL(
            "ALTER TABLE scenario_book ADD CONSTRAINT book_rank_sql "
            "CHECK (rank >= 0) NOT VALID",
            NOOP,
        ),
        # a table of no model: its columns' types are not known
        migrations.RunSQL(
            [
                "ALTER TABLE legacy_report ALTER COLUMN total TYPE numeric(12, 2)",
                "ALTER TABLE legacy_report MODIFY COLUMN total decimal(12, 2)",
            ],
            NOOP,
        ),
    ]
