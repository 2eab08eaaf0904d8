"""Snippet: batch_transaction() of an atomic migration."""

import contextlib


# ---- generated code ----
def batch_transaction(using):
    """The migration is atomic: all batches run in its one transaction."""
    return contextlib.nullcontext()
