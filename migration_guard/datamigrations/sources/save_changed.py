"""Snippet: Changed rows written back in few statements."""

# ---- generated code ----
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
