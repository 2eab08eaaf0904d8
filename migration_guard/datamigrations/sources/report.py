"""Snippet: Progress lines of a batch loop (pre_migrate's verbosity and stream)."""

import functools
import sys
import time

from django.core.management.base import OutputWrapper
from django.db.models.signals import pre_migrate

# ---- generated code ----
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
        out.write("\n")
    out.write(
        f"    {label}: batch {batch}, {min(seen, total)} of {total} rows, "
        f"{changed} written, {time.monotonic() - started:.1f}s\n"
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
        ("\n" if batch == 1 else "\r\033[K")
        + f"    {label}: {done:,} of {total:,} rows, {rate:,.0f} rows/s, "
        f"ETA {left:,.0f}s"
        + ("\n" if done >= total else "")
    )
    out.flush()
