"""The search index: an FTS5 virtual table the state knows as a model."""

import django.db.models.deletion
from django.db import migrations, models

TRIGGERS = [
    """
    CREATE TRIGGER ftsapp_article_ai AFTER INSERT ON ftsapp_article BEGIN
        INSERT INTO ftsapp_articlesearch (rowid, title, body, article_id)
        VALUES (new.id, new.title, new.body, new.id);
    END
    """,
    """
    CREATE TRIGGER ftsapp_article_ad AFTER DELETE ON ftsapp_article BEGIN
        DELETE FROM ftsapp_articlesearch WHERE rowid = old.id;
    END
    """,
    """
    CREATE TRIGGER ftsapp_article_au AFTER UPDATE ON ftsapp_article BEGIN
        UPDATE ftsapp_articlesearch SET title = new.title, body = new.body
        WHERE rowid = old.id;
    END
    """,
]


class Migration(migrations.Migration):
    dependencies = [("ftsapp", "0001_initial")]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="ArticleSearch",
                    fields=[
                        ("id", models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("title", models.CharField(max_length=200)),
                        ("body", models.TextField()),
                        ("article", models.ForeignKey(on_delete=django.db.models.deletion.DO_NOTHING, to="ftsapp.article")),
                    ],
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    sql=[
                        "CREATE VIRTUAL TABLE ftsapp_articlesearch USING "
                        "fts5(title, body, article_id UNINDEXED)",
                        *TRIGGERS,
                    ],
                    reverse_sql=[
                        "DROP TRIGGER ftsapp_article_au",
                        "DROP TRIGGER ftsapp_article_ad",
                        "DROP TRIGGER ftsapp_article_ai",
                        "DROP TABLE ftsapp_articlesearch",
                    ],
                ),
            ],
        ),
    ]
