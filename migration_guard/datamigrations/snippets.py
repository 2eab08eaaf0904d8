"""Helper functions copied into generated migrations.

A generated migration must keep working when migration_guard is uninstalled, so
it imports nothing from migration_guard: the batching code it needs is written
into the file itself. Each snippet is the source of one or more module-level
functions, with the imports it needs and the other snippets it calls;
:func:`collect` returns the ones a template asks for, in a stable order.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Snippet:
    code: str
    imports: frozenset[str] = frozenset()
    needs: tuple[str, ...] = ()


REPORT = Snippet(
    '''\
# Progress: migrate sends pre_migrate with its verbosity and output stream
# before it runs any migration; at verbosity 2 or more (-v 2), every batch
# prints a line there; on a terminal, one line shows the rows done, the rate
# and the time left, rewritten after each batch.
OUTPUT = {"verbosity": 1, "stdout": None}


def remember_output(verbosity=1, stdout=None, **kwargs):
    OUTPUT.update(verbosity=verbosity, stdout=stdout)


pre_migrate.connect(remember_output, dispatch_uid=f"{__name__}.remember_output")


def on_terminal():
    """Whether migrate's output is a terminal (not a pipe, a file, --format json)."""
    out = OUTPUT["stdout"]
    try:
        return OUTPUT["verbosity"] >= 1 and out is not None and out.isatty()
    except (AttributeError, ValueError):
        return False


def count_for_progress(rows):
    """The number of rows, counted only when progress is shown."""
    return rows.count() if OUTPUT["verbosity"] >= 2 or on_terminal() else None


def report(label, batch, seen, total, changed, started):
    """One line per batch at verbosity 2 or more; on a terminal, one line."""
    if OUTPUT["verbosity"] < 2:
        if on_terminal():
            show_progress(label, batch, min(seen, total), total, started)
        return
    out = OUTPUT["stdout"] or sys.stdout
    if batch == 1:
        out.write("\\n")
    out.write(
        f"    {label}: batch {batch}, {min(seen, total)} of {total} rows, "
        f"{changed} written, {time.monotonic() - started:.1f}s\\n"
    )
    out.flush()


def show_progress(label, batch, done, total, started):
    """Rows done of the total, rows per second and the time left, in place."""
    out = OUTPUT["stdout"]
    write = out.write
    if isinstance(out, OutputWrapper):  # it would end every write with a newline
        write = functools.partial(out.write, ending="")
    seconds = time.monotonic() - started
    rate = done / seconds if seconds > 0 else 0.0
    left = (total - done) / rate if rate else 0.0
    write(
        ("\\n" if batch == 1 else "\\r\\033[K")
        + f"    {label}: {done:,} of {total:,} rows, {rate:,.0f} rows/s, "
        f"ETA {left:,.0f}s"
        + ("\\n" if done >= total else "")
    )
    out.flush()
''',
    frozenset(
        {
            "import functools",
            "import sys",
            "import time",
            "from django.core.management.base import OutputWrapper",
            "from django.db.models.signals import pre_migrate",
        }
    ),
)

BATCH_TRANSACTION_ATOMIC = Snippet(
    '''\
def batch_transaction(using):
    """The migration is atomic: all batches run in its one transaction."""
    return contextlib.nullcontext()
''',
    frozenset({"import contextlib"}),
)

BATCH_TRANSACTION_PER_BATCH = Snippet(
    '''\
def batch_transaction(using):
    """atomic = False: each batch commits on its own, so row locks are held
    for one batch at a time. If a batch fails, the batches before it stay
    done and the migration is not recorded as applied."""
    return transaction.atomic(using=using)
''',
    frozenset({"from django.db import transaction"}),
)

UPDATE_IN_BATCHES = Snippet(
    '''\
def update_in_batches(rows, values, label, condition=None):
    """UPDATE rows SET values, one primary-key range of BATCH_SIZE rows at a time.

    A range runs from a key to the key BATCH_SIZE rows further on, found on
    the primary key index (keyset pagination), so gaps between keys cost
    nothing. Each UPDATE is set-based: the database computes the values and
    no row travels to Python. Returns the number of rows changed.
    """
    keys = rows.order_by("pk").values_list("pk", flat=True)
    total = count_for_progress(rows)
    started = time.monotonic()
    batch = changed = 0
    start = keys.first()
    while start is not None:
        following = list(keys.filter(pk__gte=start)[BATCH_SIZE : BATCH_SIZE + 1])
        stop = following[0] if following else None
        in_range = rows.filter(pk__gte=start)
        if stop is not None:
            in_range = in_range.filter(pk__lt=stop)
        if condition is not None:
            in_range = in_range.filter(condition)
        with batch_transaction(rows.db):
            changed += in_range.update(**values)
        batch += 1
        report(label, batch, batch * BATCH_SIZE, total, changed, started)
        start = stop
    return changed
''',
    frozenset({"import time"}),
    ("report", "batch_transaction"),
)

IN_LOCKED_BATCHES = Snippet(
    '''\
def in_locked_batches(rows, handle, label):
    """Call handle(objs) on every batch of BATCH_SIZE rows; return the total
    it returns (the rows it wrote).

    Batches are read in primary-key order by keyset pagination (pk greater
    than the last key of the previous batch: a range scan of the primary key
    index, never OFFSET), locked for update (select_for_update) and handled
    in batch_transaction().
    """
    total = count_for_progress(rows)
    started = time.monotonic()
    ordered = rows.order_by("pk")
    batch = written = 0
    last = None
    while True:
        page = ordered if last is None else ordered.filter(pk__gt=last)
        with batch_transaction(rows.db):
            objs = list(page.select_for_update()[:BATCH_SIZE].iterator())
            if not objs:
                return written
            written += handle(objs)
        last = objs[-1].pk
        batch += 1
        report(label, batch, batch * BATCH_SIZE, total, written, started)
''',
    frozenset({"import time"}),
    ("report", "batch_transaction"),
)

CHANGE_IN_BATCHES = Snippet(
    '''\
def change_in_batches(rows, fields, change, label):
    """Change rows in Python, batch by batch; write back the changed ones.

    change(obj) changes the fields of one row in place and says whether it
    changed anything; save_changed() writes the changed rows of a batch.
    Returns the number of rows changed.
    """

    def handle(objs):
        changed = [obj for obj in objs if change(obj)]
        save_changed(rows, changed, fields)
        return len(changed)

    return in_locked_batches(rows, handle, label)
''',
    needs=("in_locked_batches", "save_changed"),
)

SAVE_CHANGED = Snippet(
    '''\
# Rows that get the same new values are written with one UPDATE ... WHERE pk
# IN (...) per distinct set of values, as long as there are at most this many
# of them in a batch; otherwise bulk_update() writes the batch in one
# statement (a CASE over the primary keys per field).
MAX_GROUPED_UPDATES = 20


def save_changed(rows, objs, fields):
    """Write ``fields`` of ``objs`` back in as few statements as their values allow."""
    if not objs:
        return
    writer = rows.model._base_manager.using(rows.db)
    attnames = [rows.model._meta.get_field(name).attname for name in fields]
    groups = {}
    try:
        for obj in objs:
            values = tuple(getattr(obj, attname) for attname in attnames)
            groups.setdefault(values, []).append(obj.pk)
    except TypeError:  # unhashable values (lists, dicts): no grouping
        groups = None
    if groups is not None and len(groups) <= MAX_GROUPED_UPDATES:
        for values, keys in groups.items():
            writer.filter(pk__in=keys).update(**dict(zip(attnames, values)))
    else:
        writer.bulk_update(objs, fields)
''',
)

MOVE_IN_BATCHES = Snippet(
    '''\
def move_in_batches(rows, convert, destination, label):
    """Move rows to another table, batch by batch: convert(obj) returns the
    new object, bulk_create() inserts the batch into destination, and the
    rows are deleted from their table. Returns the number of rows moved.
    """
    source = rows.model._base_manager.using(rows.db)

    def handle(objs):
        destination.bulk_create([convert(obj) for obj in objs])
        source.filter(pk__in=[obj.pk for obj in objs]).delete()
        return len(objs)

    return in_locked_batches(rows, handle, label)
''',
    needs=("in_locked_batches",),
)

RESET_VALUES = Snippet(
    '''\
def reset_values(model, names):
    """What backwards writes: each field's default in the migration state
    (NULL for a nullable field without one, "" for text)."""
    return {name: model._meta.get_field(name).get_default() for name in names}
''',
)

SNIPPETS: dict[str, Snippet] = {
    "report": REPORT,
    "update_in_batches": UPDATE_IN_BATCHES,
    "change_in_batches": CHANGE_IN_BATCHES,
    "save_changed": SAVE_CHANGED,
    "move_in_batches": MOVE_IN_BATCHES,
    "in_locked_batches": IN_LOCKED_BATCHES,
    "reset_values": RESET_VALUES,
}
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


def collect(names: set[str], *, atomic: bool) -> tuple[list[str], set[str]]:
    """The source of snippets ``names`` and of those they call, and their imports."""
    wanted: set[str] = set()
    pending = list(names)
    while pending:
        name = pending.pop()
        if name in wanted:
            continue
        wanted.add(name)
        pending.extend(_get(name, atomic).needs)
    codes: list[str] = []
    imports: set[str] = set()
    for name in ORDER:
        if name in wanted:
            snippet = _get(name, atomic)
            codes.append(snippet.code)
            imports |= snippet.imports
    return codes, imports


def _get(name: str, atomic: bool) -> Snippet:
    if name == "batch_transaction":
        return BATCH_TRANSACTION_ATOMIC if atomic else BATCH_TRANSACTION_PER_BATCH
    return SNIPPETS[name]
