"""Snippet: Keyset-paginated, locked batches handled in Python."""

import time

from migration_guard.datamigrations.sources.batch_transaction_atomic import (
    batch_transaction,
)
from migration_guard.datamigrations.sources.names import BATCH_SIZE
from migration_guard.datamigrations.sources.report import count_for_progress, report


# ---- generated code ----
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
