"""Snippet: Rows changed in Python, batch by batch."""

from migration_guard.datamigrations.sources.in_locked_batches import in_locked_batches
from migration_guard.datamigrations.sources.save_changed import save_changed


# ---- generated code ----
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
