"""Apps, models and fields as the migration history describes them.

A data migration runs against the historical models of its place in the
graph, not against ``models.py``: a field that ``models.py`` has but no
migration has added yet does not exist when the data migration runs. So
names given to ``makedatamigration`` are checked against the state at the
app's current leaf (the state the new migration will see), and errors list
what exists there.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.apps import apps as global_apps
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.state import ProjectState
from django.db.models import Field, Model

from migration_guard.exceptions import UsageError


@dataclass
class ModelRef:
    """One historical model of the state, with lookups that explain failures."""

    app_label: str
    model: type[Model]
    leaf: str

    @property
    def name(self) -> str:
        return self.model._meta.object_name or ""

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"

    @property
    def pk(self) -> Field[Any, Any]:
        pk = self.model._meta.pk
        assert pk is not None
        return pk

    @property
    def concrete_fields(self) -> list[Field[Any, Any]]:
        return list(self.model._meta.concrete_fields)

    def field(self, name: str, *, option: str = "") -> Field[Any, Any]:
        """The concrete field ``name`` (or attname), else a UsageError listing them."""
        for field in self.concrete_fields:
            if name in (field.name, field.attname):
                return field
        where = f"{option} {name!r}: " if option else ""
        raise UsageError(
            f"{where}Model {self.label} has no field {name!r} in its migration "
            f"state (at {self.app_label}.{self.leaf}). Its fields: "
            f"{', '.join(f.name for f in self.concrete_fields)}."
        )

    def fields(self, names: list[str], *, option: str) -> list[Field[Any, Any]]:
        found = [self.field(name, option=option) for name in names]
        seen: set[str] = set()
        for field in found:
            if field.name in seen:
                raise UsageError(f"{option} names {field.name!r} twice.")
            seen.add(field.name)
        return found

    def writable(self, name: str, *, option: str) -> Field[Any, Any]:
        """A field a template may write: not the primary key."""
        field = self.field(name, option=option)
        if field.primary_key:
            raise UsageError(
                f"{option} {name!r}: {self.label}.{field.name} is the primary key; "
                "data migration templates do not rewrite primary keys."
            )
        return field

    def incoming(self) -> list[str]:
        """Relations whose rows would be deleted or broken with this model's rows."""
        found = []
        for rel in self.model._meta.related_objects:
            remote = rel.field
            found.append(
                f"{remote.model._meta.label}.{remote.name} ({type(remote).__name__})"
            )
        for field in self.model._meta.local_many_to_many:
            found.append(f"{self.label}.{field.name} (ManyToManyField)")
        return sorted(found)


class MigrationState:
    """The state at the leaves of the migration graph, from the files on disk."""

    def __init__(self, loader: MigrationLoader | None = None) -> None:
        self.loader = loader or MigrationLoader(None, ignore_no_migrations=True)
        #: every model :meth:`model` handed out, in order
        self.resolved: list[ModelRef] = []

    @cached_property
    def project_state(self) -> ProjectState:
        return self.loader.project_state()

    def leaf(self, app_label: str) -> str:
        """The app's single leaf migration, or a UsageError saying what to do."""
        try:
            global_apps.get_app_config(app_label)
        except LookupError:
            labels = sorted(c.label for c in global_apps.get_app_configs())
            raise UsageError(
                f"No installed app with label {app_label!r}. Installed apps: "
                f"{', '.join(labels)}."
            ) from None
        if app_label in self.loader.unmigrated_apps or app_label not in (
            self.loader.migrated_apps
        ):
            raise UsageError(
                f"App {app_label!r} has no migrations. A data migration goes "
                f"into the app's migrations package: run 'manage.py "
                f"makemigrations {app_label}' first."
            )
        leaves = sorted(
            name for label, name in self.loader.graph.leaf_nodes() if label == app_label
        )
        if not leaves:
            raise UsageError(f"App {app_label!r} has no migrations yet.")
        if len(leaves) > 1:
            raise UsageError(
                f"App {app_label!r} has conflicting migrations ({', '.join(leaves)}): "
                "run 'manage.py makemigrations --merge' first."
            )
        return str(leaves[0])

    def model(self, app_label: str, name: str, *, option: str = "--model") -> ModelRef:
        """The historical model ``name`` (case-insensitive) of ``app_label``.

        ``name`` may be ``other_app.Model`` for a model of another app.
        """
        if "." in name:
            app_label, _, name = name.partition(".")
        leaf = self.leaf(app_label)
        models = {
            key[1]: state
            for key, state in self.project_state.models.items()
            if key[0] == app_label
        }
        if name.lower() not in models:
            known = ", ".join(sorted(s.name for s in models.values())) or "none"
            raise UsageError(
                f"{option} {name!r}: app {app_label!r} has no model {name!r} in its "
                f"migration state (at {app_label}.{leaf}). Its models: {known}."
            )
        model = self.project_state.apps.get_model(app_label, name)
        ref = ModelRef(app_label, model, leaf)
        self.resolved.append(ref)
        return ref
