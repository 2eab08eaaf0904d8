"""Helper functions copied into generated migrations.

A generated migration must keep working when migration_guard is uninstalled, so
it imports nothing from migration_guard: the batching code it needs is written
into the file itself. Each snippet is a source file of ``sources/`` (one or
more module-level functions, the imports they need and the other snippets they
call); :func:`collect` returns the ones a template asks for, in a stable order.
"""

from __future__ import annotations

from migration_guard.datamigrations.source import Source, load

ORDER = (
    "update_in_batches",
    "change_in_batches",
    "move_in_batches",
    "in_locked_batches",
    "save_changed",
    "reset_values",
    "batch_transaction",
    "report",
)


def collect(names: frozenset[str], *, atomic: bool) -> tuple[list[str], set[str]]:
    """The source of snippets ``names`` and of those they call, and their imports."""
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name not in wanted:
            wanted.add(name)
            pending.extend(_get(name, atomic).needs)
    codes: list[str] = []
    imports: set[str] = set()
    for name in ORDER:
        if name in wanted:
            snippet = _get(name, atomic)
            codes.append(snippet.text)
            imports |= snippet.imports
    return codes, imports


def _get(name: str, atomic: bool) -> Source:
    if name == "batch_transaction":
        return load(
            "batch_transaction_atomic" if atomic else "batch_transaction_per_batch"
        )
    return load(name)
