"""Stand-in models give every migration the same effect as rendered ones.

:func:`~safemigrate.schema.expected.migration_deltas` walks the graph with
:class:`~safemigrate.schema.lightstate.LightApps`; forcing its fallback from
the first model on makes the same walk with rendered models (Django's
``state.apps``), which is what the stand-ins must reproduce, element for
element, on each backend (field classes and constraints differ by backend).
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader

from safemigrate.schema import lightstate
from safemigrate.schema.expected import Delta, migration_deltas
from safemigrate.schema.lightstate import Unsupported
from tests.conftest import Database

Key = tuple[str, str]


def both_walks(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[Key, Delta], ...]:
    """The deltas from stand-ins (which must not have fallen back) and rendered."""
    made: list[lightstate.LightApps] = []
    original = lightstate.LightApps.__init__

    def keep(self: lightstate.LightApps, *args: Any) -> None:
        original(self, *args)
        made.append(self)

    with monkeypatch.context() as patch:
        patch.setattr(lightstate.LightApps, "__init__", keep)
        light = migration_deltas(MigrationLoader(connection), connection)
    assert [apps.rendered for apps in made] == [False]
    with monkeypatch.context() as patch:

        def refuse(*args: Any) -> Any:
            raise Unsupported("rendered on purpose")

        patch.setattr(lightstate.LightApps, "_build", refuse)
        rendered = migration_deltas(MigrationLoader(connection), connection)
    return light, rendered


@pytest.mark.parametrize(
    "scenario", ["tests.scenarios.allfields", "tests.scenarios.verify"]
)
def test_same_deltas_as_rendered_models(
    database: Database, settings: Any, monkeypatch: pytest.MonkeyPatch, scenario: str
) -> None:
    settings.MIGRATION_MODULES = {"scenario": scenario}
    light, rendered = both_walks(monkeypatch)
    assert list(light) == list(rendered)
    for key, delta in rendered.items():
        assert light[key].changes == delta.changes, key
        assert light[key].unverifiable == delta.unverifiable, key
    assert any(delta.changes for key, delta in light.items() if key[0] == "scenario")


def test_a_field_that_binds_itself_renders_the_rest(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unknown ``contribute_to_class`` switches to rendered models for good."""
    light, rendered = both_walks(monkeypatch)
    monkeypatch.setattr(lightstate, "PLAIN_CONTRIBUTE", set())
    fallback = migration_deltas(MigrationLoader(connection), connection)
    assert {k: d.changes for k, d in fallback.items()} == {
        k: d.changes for k, d in rendered.items()
    }
    assert {k: d.changes for k, d in light.items()} == {
        k: d.changes for k, d in rendered.items()
    }
