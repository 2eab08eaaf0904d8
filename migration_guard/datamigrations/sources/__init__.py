"""The code that ``makedatamigration`` writes into migrations, as Python files.

Each module here is read as text by
:mod:`migration_guard.datamigrations.source`, never imported at run time. What
follows its ``# ---- generated code ----`` line goes into the migration;
what precedes it is for ruff only: imports of the names that the migration
defines elsewhere in its file (:mod:`.names`, the other snippets here) are
left out, and the other imports are the ones the code needs.

Placeholders keep the files valid Python: ``__NAME__`` (upper case between
double underscores) is replaced by text, and a comment line holding only
``# __NAME__`` by lines of code (a constant and its comment).
"""
