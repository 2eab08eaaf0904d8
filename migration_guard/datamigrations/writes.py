"""What a generated data migration declares it writes (``migration_guard_writes``).

A plan-scoped backup (:mod:`migration_guard.backup.plan_scope`) holds the
tables a plan can change; a RunPython migration says which with this
attribute. A template declares every model it resolved (the ones it only
reads too: a larger backup is safe, a smaller one is not), the auto-created
many-to-many tables of those models, and the models that a delete of their
rows reaches through ``on_delete`` (Django runs CASCADE, SET_NULL and
SET_DEFAULT in Python, so those rows are written as well).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.db import models

#: on_delete handlers that write nothing to the related rows
_INERT = (models.DO_NOTHING, models.PROTECT, models.RESTRICT)


def declared_writes(resolved: Iterable[type[models.Model]]) -> list[str]:
    """``"app_label.ModelName"`` and table names that ``resolved`` can write."""
    seen: dict[str, type[models.Model]] = {}
    pending = list(resolved)
    tables: set[str] = set()
    while pending:
        model = pending.pop()
        label = model._meta.label
        if label in seen:
            continue
        seen[label] = model
        tables.update(_auto_through_tables(model))
        pending.extend(_reached_by_delete(model))
    return sorted(seen) + sorted(tables)


def _auto_through_tables(model: type[models.Model]) -> list[str]:
    tables = []
    for field in model._meta.many_to_many:
        through: Any = getattr(field.remote_field, "through", None)
        if through is not None and through._meta.auto_created:
            tables.append(str(through._meta.db_table))
    return tables


def _reached_by_delete(model: type[models.Model]) -> list[type[models.Model]]:
    reached = []
    for relation in model._meta.related_objects:
        on_delete = getattr(relation, "on_delete", None)
        if relation.many_to_many or on_delete is None or on_delete in _INERT:
            continue
        related: Any = relation.related_model
        if not related._meta.auto_created:
            reached.append(related)
    return reached
