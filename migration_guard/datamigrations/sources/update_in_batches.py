"""Snippet: Set-based UPDATEs over primary-key ranges."""

import time

from migration_guard.datamigrations.sources.batch_transaction_atomic import (
    batch_transaction,
)
from migration_guard.datamigrations.sources.names import BATCH_SIZE
from migration_guard.datamigrations.sources.report import count_for_progress, report


# ---- generated code ----
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
