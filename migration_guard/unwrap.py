"""What operations run on the database: ``SeparateDatabaseAndState`` unwrapped.

``SeparateDatabaseAndState`` changes Django's state with its
``state_operations`` and the database with its ``database_operations``,
which may nest another one. Gates, previews, checksums and schema deltas
judge what reaches the database: the operations here, never the wrapper;
and an ``AlterField`` reaches it only when :func:`changes_column`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db.migrations import operations as ops
from django.db.migrations.operations.base import Operation
from django.db.models import Field

#: operations whose effect on the database is code, which no state describes
CODE_OPERATIONS = (ops.RunPython, ops.RunSQL)


def database_operations(operation: Operation) -> Iterator[Operation]:
    """``operation``, or what a ``SeparateDatabaseAndState`` runs on the database.

    Nested ones are unwrapped in turn; a state-only one yields nothing.
    """
    if isinstance(operation, ops.SeparateDatabaseAndState):
        for inner in operation.database_operations:
            yield from database_operations(inner)
    else:
        yield operation


def database_side(operations: Iterable[Operation]) -> Iterator[Operation]:
    """Every operation of ``operations`` that runs on the database, unwrapped."""
    for operation in operations:
        yield from database_operations(operation)


def code_operations(operations: Iterable[Operation]) -> list[Operation]:
    """The ``RunPython`` and ``RunSQL`` operations that run on the database."""
    return [op for op in database_side(operations) if isinstance(op, CODE_OPERATIONS)]


def changes_column(old: Field[Any, Any], new: Field[Any, Any]) -> bool:
    """Whether altering field ``old`` to ``new`` changes the database.

    As the schema editor decides (``_field_should_be_altered``): the
    attributes Django keeps out of the schema (``Field.non_db_attrs``) do
    not count, except a changed ``db_column``.
    """
    _, old_path, old_args, old_kwargs = old.deconstruct()
    _, new_path, new_args, new_kwargs = new.deconstruct()
    for attr in old.non_db_attrs:
        if attr != "db_column":
            old_kwargs.pop(attr, None)
    for attr in new.non_db_attrs:
        if attr != "db_column":
            new_kwargs.pop(attr, None)
    return bool((old_path, old_args, old_kwargs) != (new_path, new_args, new_kwargs))
