"""Rollback: what undoing a plan does, step by step, before it is done.

The revert preview (:mod:`.preview`), its backward SQL (:mod:`.backward_sql`) and the
partial states that SQL is rendered from (:mod:`.partial`).
"""
