"""Stand-ins for the functions of a generated migration.

``MigrationWriter`` serializes ``RunPython(forwards, backwards)`` by the
functions' import paths; the writer hands it these two and then rewrites
their dotted path to the module-level ``forwards``/``backwards`` of the file
it writes (which therefore imports nothing from migration_guard).
"""

from __future__ import annotations

from typing import Any


def forwards(apps: Any, schema_editor: Any) -> None:  # pragma: no cover
    raise AssertionError("placeholder: never runs")


def backwards(apps: Any, schema_editor: Any) -> None:  # pragma: no cover
    raise AssertionError("placeholder: never runs")
