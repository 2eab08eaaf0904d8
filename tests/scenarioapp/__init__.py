"""A test-only app whose migrations are swapped in per test with MIGRATION_MODULES.

Its default migrations package is empty; each scenario under
``tests/scenarios/`` is a migrations package for this app.
"""
