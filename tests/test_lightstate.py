"""Stand-in models give every migration the same effect as rendered ones.

:func:`~migration_guard.reconcile.schema.expected.migration_deltas` walks the graph with
:class:`~migration_guard.reconcile.schema.lightstate.LightApps`; forcing its fallback
from
``render=True`` makes the same walk with rendered models (Django's
``state.apps``), which is what the stand-ins must reproduce, element for
element, on each backend (field classes and constraints differ by backend),
without rendering any model.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ModelState
from django.db.models import CharField, Field

from migration_guard.reconcile.schema.expected import Delta, migration_deltas
from tests.conftest import Database

Key = tuple[str, str]


def both_walks(monkeypatch: pytest.MonkeyPatch) -> tuple[dict[Key, Delta], ...]:
    """The deltas from stand-ins (nothing rendered) and from rendered models."""
    renders: list[Any] = []
    original = ModelState.render

    def counting(self: ModelState, apps: Any) -> Any:
        renders.append(self)
        return original(self, apps)

    with monkeypatch.context() as patch:
        patch.setattr(ModelState, "render", counting)
        light = migration_deltas(MigrationLoader(connection), connection)
    assert renders == []
    rendered = migration_deltas(MigrationLoader(connection), connection, render=True)
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


def test_a_field_that_binds_itself_is_bound_as_django_binds_fields(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A ``contribute_to_class`` of its own renders nothing, changes nothing.

    A field class that binds itself (``TaggableManager``; here ``CharField``
    given its own method for the test) is bound as Django binds a field:
    the walk renders no model and finds the effects the rendered one finds.
    """
    calls: list[str] = []

    def contribute(self: Any, cls: Any, name: str, **kwargs: Any) -> None:
        calls.append(name)
        Field.contribute_to_class(self, cls, name, **kwargs)

    monkeypatch.setattr(CharField, "contribute_to_class", contribute)
    light, rendered = both_walks(monkeypatch)
    assert calls  # the rendered walk called it; the stand-ins bind plainly
    assert {k: d.changes for k, d in light.items()} == {
        k: d.changes for k, d in rendered.items()
    }
