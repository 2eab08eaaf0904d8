"""Type names and index definitions as each vendor spells them, normalised.

What the live database reports (``format_type``, ``COLUMN_TYPE``, SQLite's
declared type, ``pg_get_indexdef``) and what Django emits (``db_type()``, the
schema editor's ``CREATE INDEX``) must meet in one spelling. The live side of
these pairs is copied from the servers of the test suite (PostgreSQL 15 with
PostGIS 3, MariaDB 10.11); ``tests/corpus`` checks them on real databases.
"""

from __future__ import annotations

import pytest

from migration_guard.reconcile.schema import Column
from migration_guard.reconcile.schema.compare import Difference, columns_agree
from migration_guard.reconcile.schema.types import normalise_definition, normalise_type


@pytest.mark.parametrize(
    ("kind", "django", "database"),
    [
        ("postgresql", "integer", "integer"),
        ("postgresql", "int4", "integer"),
        ("postgresql", "serial", "integer"),
        ("postgresql", "bigint", "bigint"),
        ("postgresql", "varchar(20)", "character varying(20)"),
        ("postgresql", "char(7)", "character(7)"),
        ("postgresql", "timestamptz", "timestamp with time zone"),
        ("postgresql", "timestamp with time zone", "timestamp with time zone"),
        ("postgresql", "numeric(10, 2)", "numeric(10,2)"),
        ("postgresql", "double precision", "double precision"),
        ("postgresql", "varchar(30)[8]", "character varying(30)[]"),
        ("postgresql", "integer[][]", "integer[]"),
        ("postgresql", "geometry(POINT,4326)", "geometry(Point,4326)"),
        ("postgresql", "geometry(POINTZ,4326)", "geometry(PointZ,4326)"),
        ("postgresql", "geography(POINT,4326)", "geography(Point,4326)"),
        ("postgresql", "tsvector", "tsvector"),
        ("postgresql", "citext", "citext"),
        ("postgresql", "tstzrange", "tstzrange"),
        ("mysql", "integer AUTO_INCREMENT", "int(11)"),
        ("mysql", "bigint AUTO_INCREMENT", "bigint(20)"),
        ("mysql", "smallint unsigned", "smallint(5) unsigned"),
        ("mysql", "bool", "tinyint(1)"),
        ("mysql", "char(7)", "char(7)"),
        ("mysql", "double precision", "double"),
        ("mysql", "numeric(10, 2)", "decimal(10,2)"),
        ("sqlite", "bigint", "integer"),
        ("sqlite", "char(7)", "char(7)"),
        ("sqlite", "smallint unsigned", "smallint unsigned"),
    ],
)
def test_both_spellings_meet(kind: str, django: str, database: str) -> None:
    assert normalise_type(kind, django) == normalise_type(kind, database)


@pytest.mark.parametrize(
    ("kind", "one", "other"),
    [
        ("postgresql", "varchar(20)", "varchar(40)"),
        ("postgresql", "char(7)", "character varying(7)"),
        ("postgresql", "geometry(POINT,4326)", "geometry(Point,3857)"),
        ("postgresql", "ltree", "text"),
        ("postgresql", "integer[]", "bigint[]"),
        ("mysql", "smallint unsigned", "smallint(6)"),
        ("mysql", "tinyint(1)", "tinyint(4)"),
        ("sqlite", "char(7)", "varchar(7)"),
        ("sqlite", "integer", "integer unsigned"),
    ],
)
def test_different_types_stay_apart(kind: str, one: str, other: str) -> None:
    assert normalise_type(kind, one) != normalise_type(kind, other)


def test_mariadb_json_is_longtext() -> None:
    assert normalise_type("mysql", "json", mariadb=True) == "longtext"
    assert normalise_type("mysql", "json") == "json"


@pytest.mark.parametrize(
    ("django", "postgresql"),
    [
        (
            'CREATE INDEX "doc_last_seen_brin" ON "pgcorpus_document" USING brin '
            '("last_seen") WITH (autosummarize = on)',
            "CREATE INDEX doc_last_seen_brin ON public.pgcorpus_document USING brin "
            "(last_seen) WITH (autosummarize='on')",
        ),
        (
            'CREATE UNIQUE INDEX "uniq" ON "t" ((LOWER("note")), "room_id")',
            "CREATE UNIQUE INDEX uniq ON public.t USING btree "
            "(lower((note)::text), room_id)",
        ),
        (
            'CREATE INDEX "fts" ON "t" USING gin ((to_tsvector(\'english\'::regconfig, '
            "COALESCE(\"title\", '') || ' ' || COALESCE(\"body\", ''))))",
            "CREATE INDEX fts ON public.t USING gin (to_tsvector('english'::regconfig, "
            "(((COALESCE(title, ''::character varying))::text || ' '::text) || "
            "COALESCE(body, ''::text))))",
        ),
        (
            'ALTER TABLE "t" ADD CONSTRAINT "no_overlap" EXCLUDE USING GIST '
            '("room_id" WITH =, "during" WITH &&) WHERE (NOT "cancelled")',
            "EXCLUDE USING gist (room_id WITH =, during WITH &&) "
            "WHERE ((NOT cancelled))",
        ),
    ],
)
def test_index_definitions_meet(django: str, postgresql: str) -> None:
    assert normalise_definition(django) == normalise_definition(postgresql)


def test_changed_index_definitions_stay_apart() -> None:
    lower = 'CREATE INDEX "i" ON "t" USING btree ((LOWER("title")) DESC, "id")'
    upper = "CREATE INDEX i ON public.t USING btree (upper((title)::text), id)"
    unique = "CREATE UNIQUE INDEX i ON public.t USING btree (lower((title)::text), id)"
    assert normalise_definition(lower) != normalise_definition(upper)
    assert normalise_definition(lower) != normalise_definition(unique)


def test_type_names_compared_and_printed_where_no_class_is() -> None:
    expected = Column("color", None, False, db_type="character(7)", declared="Hex")
    found = Column("color", "CharField", False, db_type="character varying(20)")
    assert not columns_agree(expected, found)
    assert str(Difference(("column", "t", "color"), expected, found)) == (
        "column t.color: expected character(7) (Hex) NOT NULL, "
        "found character varying(20) NOT NULL"
    )


def test_a_type_that_cannot_be_read_is_not_held_against_the_column() -> None:
    """A virtual table's columns: no type to read, compared by presence."""
    expected = Column("body", None, True, db_type="text")
    assert columns_agree(expected, Column("body", None, True, db_type=None))
    assert not columns_agree(expected, Column("body", None, False, db_type=None))
