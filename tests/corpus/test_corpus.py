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


def reconcile_check(corpus: Corpus) -> tuple[int, str]:
    proc = corpus.manage("reconcile", "--check", "--no-color")
    return proc.returncode, proc.stdout + proc.stderr


def test_reconcile_check_is_clean(corpus_template: Corpus) -> None:
    """No false drift: every migration's effects found, nothing called unknown."""
    code, output = reconcile_check(corpus_template)
    assert code == 0, output[-6000:]
    assert "unknown type" not in output
    assert " 0 drift, 0 fakeable, 0 pending, 0 partial" in output


def test_rollbackplan_lists_djangos_plan_for_every_app(corpus_template: Corpus) -> None:
    plans = corpus_template.json("plans")
    assert set(plans) >= COMMON_APPS
    for app, plan in plans.items():
        assert plan["rollbackplan"] == plan["django"], app
        assert plan["django"], app


def test_no_model_is_rendered_by_reconcile(corpus_template: Corpus) -> None:
    """The walk over every migration uses unrendered states only."""
    counted = corpus_template.json("renders")
    assert counted["migrations"] >= 200
    assert counted["renders"] == 0


def test_stand_ins_find_what_rendered_models_find(corpus_template: Corpus) -> None:
    """Every migration's effect, walked without rendering, as rendered models say."""
    compared = corpus_template.json("deltas")
    assert compared["migrations"] >= 200 and compared["elements"] >= 1000
    assert compared["differing"] == []
