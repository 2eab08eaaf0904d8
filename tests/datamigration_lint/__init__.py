"""Migrations of the dmapp test app with what migration_guard.gates.lint must find.

Swapped in with ``MIGRATION_MODULES = {"dmapp": "tests.datamigration_lint"}``;
they are read, never applied.
"""
