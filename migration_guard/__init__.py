"""migration_guard: Django migrations made safe to run in production."""

__version__ = "0.1.0"
