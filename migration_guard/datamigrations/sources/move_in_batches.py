"""Snippet: Rows moved to another table, batch by batch."""

from migration_guard.datamigrations.sources.in_locked_batches import in_locked_batches


# ---- generated code ----
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
