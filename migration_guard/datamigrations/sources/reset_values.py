"""Snippet: What a reset backwards writes."""


# ---- generated code ----
def reset_values(model, names):
    """What backwards writes: each field's default in the migration state
    (NULL for a nullable field without one, "" for text)."""
    return {name: model._meta.get_field(name).get_default() for name in names}
