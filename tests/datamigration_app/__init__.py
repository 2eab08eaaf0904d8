"""A test-only app for makedatamigration: people to split, merge, copy and move.

Installed per test (``settings.INSTALLED_APPS``); its migrations package is
copied to a temporary directory and swapped in with ``MIGRATION_MODULES``,
so generated migrations never land in the repository.
"""
