"""Reconcile: each migration against the live schema, and guarded fakes.

The live schema and the schema migrations expect (:mod:`.schema`), the verdict per
migration (:mod:`.verdict`) and the history rows written as ``migrate`` writes them
(:mod:`.history`).
"""
