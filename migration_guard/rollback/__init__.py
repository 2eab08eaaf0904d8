"""Rollback: what undoing a plan does, step by step, before it is done.

The plan of a rollback and the strategy that undoes it, unapply or restore
(:mod:`.strategy`), the revert preview (:mod:`.preview`), the effect of undoing
each operation (:mod:`.effects`), the backward SQL (:mod:`.backward_sql`) and the
partial states that SQL is rendered from (:mod:`.partial`). The states come from
the one walk over the history, :mod:`migration_guard.walk`.
"""
