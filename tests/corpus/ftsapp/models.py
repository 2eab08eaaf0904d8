"""Articles with an FTS5 index (SQLite only).

``ArticleSearch`` is an FTS5 virtual table: its migration creates it with
``RunSQL`` under ``SeparateDatabaseAndState`` (the state gets the model, the
database the virtual table and the triggers that keep it in step).
"""

from __future__ import annotations

from django.db import models


class Article(models.Model):
    title = models.CharField(max_length=200)
    body = models.TextField()
    published = models.DateTimeField(null=True)


class ArticleSearch(models.Model):
    article = models.ForeignKey(Article, on_delete=models.DO_NOTHING)
    title = models.CharField(max_length=200)
    body = models.TextField()
