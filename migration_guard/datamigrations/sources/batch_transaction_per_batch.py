"""Snippet: batch_transaction() of an atomic = False migration."""

from django.db import transaction


# ---- generated code ----
def batch_transaction(using):
    """atomic = False: each batch commits on its own, so row locks are held
    for one batch at a time. If a batch fails, the batches before it stay
    done and the migration is not recorded as applied."""
    return transaction.atomic(using=using)
