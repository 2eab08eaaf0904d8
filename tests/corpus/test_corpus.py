"""The corpus project (third-party apps from PyPI) on every backend.

Each database is migrated from empty by Django's own ``migrate`` (once per
backend, see ``conftest.py``); the tests then run safemigrate's commands on
it as a user would, through ``manage.py``.
"""

from __future__ import annotations

from tests.corpus.conftest import Corpus

#: apps every backend has (the PostgreSQL-, GIS- and SQLite-only ones aside)
COMMON_APPS = {
    "admin", "auth", "contenttypes", "sessions", "sites", "cms", "menus",
    "djangocms_text", "djangocms_link", "djangocms_picture", "djangocms_file",
    "djangocms_frontend", "filer", "easy_thumbnails", "account", "socialaccount",
    "guardian", "otp_totp", "otp_static", "otp_hotp", "otp_email", "axes",
    "reversion", "auditlog", "constance", "django_celery_beat", "taggit",
    "corpusshop", "safemigrate",
}  # fmt: skip
OWN_APPS = {"postgresql": {"pgcorpus", "gisapp"}, "sqlite": {"ftsapp"}, "mysql": set()}


def test_migrated_from_empty_by_django(corpus_template: Corpus) -> None:
    info = corpus_template.json("info")
    assert set(info["apps"]) >= COMMON_APPS | OWN_APPS[corpus_template.vendor]
    assert not set(info["apps"]) & (
        {"pgcorpus", "gisapp", "ftsapp"} - OWN_APPS[corpus_template.vendor]
    )
    # everything recorded, the squashed migrations with what they replace
    assert set(info["nodes"]) <= set(info["recorded"])
    assert len(info["nodes"]) >= 200
    assert len(info["tables"]) >= 80
