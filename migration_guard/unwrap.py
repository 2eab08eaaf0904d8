"""What operations run on the database: ``SeparateDatabaseAndState`` unwrapped.

``SeparateDatabaseAndState`` changes Django's state with its
``state_operations`` and the database with its ``database_operations``,
which may nest another one. Gates, previews, checksums and schema deltas
judge what reaches the database: the operations here, never the wrapper.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from django.db.migrations import operations as ops
from django.db.migrations.operations.base import Operation

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
