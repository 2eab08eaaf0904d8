"""The corpus project (third-party apps from PyPI) on every backend.

Each database is migrated from empty by Django's own ``migrate`` (once per
backend, see ``conftest.py``); the tests then run migration_guard's commands on
it as a user would, through ``manage.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from tests.corpus.conftest import Corpus

#: apps every backend has (the PostgreSQL-, GIS- and SQLite-only ones aside)
COMMON_APPS = {
    "admin",
    "auth",
    "contenttypes",
    "sessions",
    "sites",
    "cms",
    "menus",
    "djangocms_text",
    "djangocms_link",
    "djangocms_picture",
    "djangocms_file",
    "djangocms_frontend",
    "filer",
    "easy_thumbnails",
    "account",
    "socialaccount",
    "guardian",
    "otp_totp",
    "otp_static",
    "otp_hotp",
    "otp_email",
    "axes",
    "reversion",
    "auditlog",
    "constance",
    "django_celery_beat",
    "taggit",
    "corpusshop",
    "migration_guard",
}
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
    """The walk over every migration uses unrendered states only, no command
    replays the graph per migration, and rollbackplan walks the history once
    for its preview and its SQL (issues 12 and 13)."""
    counted = corpus_template.json("renders")
    assert counted["migrations"] >= 200
    assert counted["renders"] == 0
    assert counted["replays"] == {
        "reconcile": 0,
        "rollbackplan": 0,
        "checkmigrations": 0,
    }
    # rollbackplan --sql: one walk for the effects and the backward SQL, one
    # for the phases (migration_guard.run.phases.history.classify_history)
    assert counted["walks"]["rollbackplan"] == 2


def test_stand_ins_find_what_rendered_models_find(corpus_template: Corpus) -> None:
    """Every migration's effect, walked without rendering, as rendered models say."""
    compared = corpus_template.json("deltas")
    assert compared["migrations"] >= 200 and compared["elements"] >= 1000
    assert compared["differing"] == []


@dataclass(frozen=True)
class Damage:
    """SQL run by hand on a migrated corpus, and what reconcile must say of it."""

    sql: dict[str, list[str]]  # per vendor ("*" for all)
    drift: str  # the migration that no longer matches
    message: dict[str, str]  # the difference it prints, per vendor ("*" for all)
    vendors: tuple[str, ...] = ("sqlite", "postgresql", "mysql")


def _sqlite_retype(table: str, old: str, new: str) -> list[str]:
    """Change a column's declared type in place (SQLite has no ALTER TYPE)."""
    return [
        "PRAGMA writable_schema = ON",
        f"UPDATE sqlite_master SET sql = replace(sql, '{old}', '{new}') "
        f"WHERE name = '{table}'",
        "PRAGMA schema_version = 4242",
        "PRAGMA writable_schema = OFF",
    ]


DAMAGE = {
    "dropped column": Damage(
        {"*": ["ALTER TABLE corpusshop_book DROP COLUMN isbn"]},
        "corpusshop.0001_initial",
        {"*": "column corpusshop_book.isbn: missing (expected CharField(13) NOT NULL)"},
    ),
    "dropped index": Damage(
        {
            "mysql": ["DROP INDEX product_name_sku ON corpusshop_product"],
            "*": ["DROP INDEX product_name_sku"],
        },
        "corpusshop.0001_initial",
        {"*": "index (name, sku) on corpusshop_product: missing"},
    ),
    "changed type": Damage(
        {
            "postgresql": [
                "ALTER TABLE corpusshop_supplier ALTER COLUMN color TYPE varchar(20)"
            ],
            "mysql": [
                "ALTER TABLE corpusshop_supplier MODIFY color varchar(20) NOT NULL"
            ],
            "sqlite": _sqlite_retype(
                "corpusshop_supplier", '"color" char(7)', '"color" varchar(20)'
            ),
        },
        "corpusshop.0001_initial",
        {
            "postgresql": "column corpusshop_supplier.color: expected character(7) "
            "(HexColorField) NOT NULL, found character varying(20) NOT NULL",
            "*": "column corpusshop_supplier.color: expected char(7) "
            "(HexColorField) NOT NULL, found varchar(20) NOT NULL",
        },
    ),
    "dropped expression index": Damage(
        {"*": ["DROP INDEX doc_last_seen_brin"]},
        "pgcorpus.0002_document_last_seen_brin",
        {"*": "index or constraint doc_last_seen_brin on pgcorpus_document: missing"},
        ("postgresql",),
    ),
    "changed expression index": Damage(
        {
            "*": [
                "DROP INDEX doc_title_lower",
                "CREATE INDEX doc_title_lower ON pgcorpus_document (upper(title), id)",
            ]
        },
        "pgcorpus.0001_initial",
        {
            "*": "index or constraint doc_title_lower on pgcorpus_document: expected "
            'CREATE INDEX "doc_title_lower" ON "pgcorpus_document" USING btree '
            '((LOWER("title")) DESC, "id"), found CREATE INDEX doc_title_lower ON '
            "public.pgcorpus_document USING btree (upper((title)::text), id)"
        },
        ("postgresql",),
    ),
    "dropped exclusion constraint": Damage(
        {"*": ["ALTER TABLE pgcorpus_reservation DROP CONSTRAINT res_no_overlap"]},
        "pgcorpus.0001_initial",
        {"*": "index or constraint res_no_overlap on pgcorpus_reservation: missing"},
        ("postgresql",),
    ),
    "changed extension type": Damage(
        {"*": ["ALTER TABLE pgcorpus_document ALTER COLUMN path TYPE text"]},
        "pgcorpus.0001_initial",
        {
            "*": "column pgcorpus_document.path: expected ltree (LtreeField) NULL, "
            "found text NULL"
        },
        ("postgresql",),
    ),
    "changed geometry": Damage(
        {
            "*": [
                "ALTER TABLE gisapp_place ALTER COLUMN location "
                "TYPE geometry(Point, 3857) USING ST_Transform(location, 3857)"
            ]
        },
        "gisapp.0001_initial",
        {
            "*": "column gisapp_place.location: expected geometry(point,4326) "
            "(PointField) NOT NULL, found geometry(point,3857) NOT NULL"
        },
        ("postgresql",),
    ),
    "dropped spatial index": Damage(
        {"*": ["DROP INDEX gisapp_route_path_c9bc6e6b_id"]},
        "gisapp.0001_initial",
        {"*": "index (path) on gisapp_route: missing"},
        ("postgresql",),
    ),
    "changed foreign key type": Damage(
        {
            "*": _sqlite_retype(
                "corpusshop_product_categories",
                '"product_id" integer NOT NULL',
                '"product_id" varchar(20) NOT NULL',
            )
        },
        "corpusshop.0001_initial",  # 0002: bigint, the same integer storage
        {
            "*": "column corpusshop_product_categories.product_id: expected integer "
            "(ForeignKey) NOT NULL, found CharField(20) NOT NULL"
        },
        ("sqlite",),
    ),
}


@pytest.mark.parametrize("case", sorted(DAMAGE))
def test_damage_is_reported_with_the_element_named(corpus: Corpus, case: str) -> None:
    damage = DAMAGE[case]
    vendor = corpus.vendor
    if vendor not in damage.vendors:
        pytest.skip(f"{case}: only on {', '.join(damage.vendors)}")
    corpus.execute(*damage.sql.get(vendor, damage.sql.get("*", [])))
    code, output = reconcile_check(corpus)
    assert code == 2, output[-4000:]
    assert damage.message.get(vendor, damage.message.get("*")) in output
    assert (
        "1 migration on database 'default' does not match the schema: "
        f"{damage.drift}." in output
    )


#: apps with a migration whose checksum fails ("Cannot serialize function:
#: lambda"), so that recording it fails: stable checksums are issue-12b's
UNCHECKSUMMABLE = {"constance", "link"}


def refake_groups(info: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Apps whose records can be re-recorded alone, and those that need issue 12b.

    Deleting the records of an app that another app's applied migrations
    depend on leaves an inconsistent history, an app with a squashed
    migration has that migration's own record to restore too, and some
    migrations' checksums fail: all are the other half of issue 12 (branch
    issue-12b).
    """
    squashing = {name.split(".", 1)[0] for name in info["replacing"]}
    plain, hard = [], []
    for app in info["apps"]:
        needs_12b = info["dependents"][app] or app in squashing | UNCHECKSUMMABLE
        (hard if needs_12b else plain).append(app)
    return plain, hard


def refake(corpus: Corpus, apps: list[str]) -> dict[str, Any]:
    """Per app: its records deleted, then ``reconcile APP --fake``; what differs."""
    result = corpus.json("refake", *apps)
    return {
        app: outcome
        for app, outcome in result.items()
        if outcome["error"] or outcome["missing"] or outcome["extra"]
    }


def test_each_apps_history_is_rerecorded_as_migrate_wrote_it(corpus: Corpus) -> None:
    info = corpus.json("info")
    plain, _ = refake_groups(info)
    assert len(plain) >= 10
    assert refake(corpus, plain) == {}


def test_history_of_apps_others_depend_on_is_rerecorded(corpus: Corpus) -> None:
    info = corpus.json("info")
    _, hard = refake_groups(info)
    assert {"auth", "contenttypes", "cms", "filer"} <= set(hard)
    assert refake(corpus, hard) == {}


def test_rollbackplan_sql_completes_for_every_app(corpus_template: Corpus) -> None:
    """The backward SQL of every app to zero is printed, never a traceback."""
    outcomes = corpus_template.json("sql")
    assert set(outcomes) >= COMMON_APPS
    assert {app: o for app, o in outcomes.items() if o["exit"] not in (0, 8)} == {}


#: what ``corpus phases`` finds (migration_guard.run.phases,
#: migration_guard.gates.locks) over
#: every app of the corpus, per backend: the pinned apps make it stable
PHASES = {
    "sqlite": {"pre-deploy": 124, "post-deploy": 81, "mixed": 25},
    "postgresql": {"pre-deploy": 125, "post-deploy": 80, "mixed": 25},
    "mysql": {"pre-deploy": 122, "post-deploy": 80, "mixed": 25},
}
GATES = {
    "sqlite": {},
    "postgresql": {
        "migration_guard.W020": 27,
        "migration_guard.W021": 12,
        "migration_guard.W022": 10,
        "migration_guard.W024": 14,
        "migration_guard.W025": 9,
    },
    "mysql": {"migration_guard.W030": 17, "migration_guard.W031": 10},
}


def test_phases_and_lock_aware_gates_over_every_app(corpus_template: Corpus) -> None:
    document = corpus_template.json("phases")
    vendor = corpus_template.vendor
    assert document["migrations"] == PHASES[vendor]
    assert len(document["mixed"]) == 25
    assert {
        "contenttypes.0002_remove_content_type_name",
        "otp_totp.0002_auto_20190420_0723",
        "cms.0038_alter_page_site",
    } <= set(document["mixed"])
    assert document["gates"] == GATES[vendor]


def test_plan_scope_of_every_apps_rollback_holds_its_tables(
    corpus_template: Corpus,
) -> None:
    """A bounded scope of ``APP zero`` leaves none of the app's tables out."""
    document = corpus_template.json("scope")
    assert {app: d["left_out"] for app, d in document.items() if d["left_out"]} == {}
    bounded = {app for app, d in document.items() if d["bounded"]}
    # apps without RunPython/RunSQL in their history are bounded
    assert {"taggit", "sessions", "guardian"} <= bounded


def test_scoped_backups_bring_back_each_bounded_apps_rollback(corpus: Corpus) -> None:
    """``APP zero`` with a plan-scoped backup, then its restore: exactly as before,
    and the file held the app's tables only, not the whole database."""
    apps = ["taggit", "sessions", "guardian"]
    document = corpus.json("scoped", *apps)
    for app in apps:
        found = document[app]
        assert found["differences"] == [], app
        assert found["held"] and set(found["held"]) <= set(found["scope"]), app
    assert "django_session" in document["sessions"]["held"]
    assert "cms_page" not in document["guardian"]["held"]
    assert {"taggit_tag", "taggit_taggeditem"} <= set(document["taggit"]["held"])


def test_rollbackplan_sql_to_a_target_inside_a_squash(corpus_template: Corpus) -> None:
    """``cms 0002``: Django's plan unapplies the squash cms.0035..._squashed_0036
    and the migrations it replaces; the walk of the history steps through the
    replaced ones. The squash's SQL is marked, never a traceback."""
    proc = corpus_template.manage("rollbackplan", "cms", "0002", "--sql")
    assert proc.returncode == 8, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr
    assert (
        "-- Unapply cms.0035_auto_20230822_2208_squashed_0036_auto_20240311_1028\n--\n"
        "-- NOT PREVIEWED (needs the earlier steps executed): the walk of the history "
        "steps through the migrations this squashed migration replaces"
    ) in proc.stdout
