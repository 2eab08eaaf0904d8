"""The template library of ``makedatamigration``.

Each template checks its options against the migration state and returns a
:class:`~migration_guard.datamigrations.base.DataMigration`: the module-level
code of the migration (constants, ``forwards``, ``backwards`` and the
helpers they call) and what to say about it;
:mod:`migration_guard.datamigrations.writer` turns that into migration files
through Django's ``MigrationWriter``. Every template has a real reverse.
"""

from __future__ import annotations

from typing import Any

from migration_guard.datamigrations.base import (
    DEFAULT_BATCH_SIZE,
    MAX_BATCH_SIZE,
    OPTIONS,
    DataMigration,
    Options,
    Template,
)
from migration_guard.datamigrations.rows import ArchiveAndDelete, MoveRows, SeedRows
from migration_guard.datamigrations.values import (
    Backfill,
    CopyField,
    Custom,
    MapValues,
    MergeFields,
    SplitField,
)
from migration_guard.exceptions import UsageError

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "MAX_BATCH_SIZE",
    "OPTIONS",
    "TEMPLATES",
    "DataMigration",
    "Options",
    "Template",
    "describe_templates",
    "template_class",
]

TEMPLATES: dict[str, type[Template]] = {
    cls.name: cls
    for cls in (
        Backfill,
        CopyField,
        MapValues,
        SplitField,
        MergeFields,
        MoveRows,
        SeedRows,
        ArchiveAndDelete,
        Custom,
    )
}


def template_class(name: str | None) -> type[Template]:
    if not name:
        raise UsageError(
            f"--template is required; choose one of {', '.join(TEMPLATES)} "
            "(--list-templates describes them)."
        )
    try:
        return TEMPLATES[name]
    except KeyError:
        raise UsageError(
            f"Unknown template {name!r}. Templates: {', '.join(TEMPLATES)} "
            "(--list-templates describes them)."
        ) from None


def describe_templates() -> list[dict[str, Any]]:
    """The library, for --list-templates."""
    return [
        {
            "name": cls.name,
            "summary": cls.summary,
            "backwards": cls.backwards,
            "batching": cls.path,
            "required": [OPTIONS[d].flag for d in cls.required],
            "optional": [OPTIONS[d].flag for d in cls.optional],
            "usage": cls.describe_options(),
            "example": cls.example,
        }
        for cls in TEMPLATES.values()
    ]
