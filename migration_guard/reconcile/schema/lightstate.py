"""A migration state's models as light stand-ins, for the tables they expect.

:func:`~migration_guard.reconcile.schema.expected.migration_deltas` reads, for every
migration, the tables of the models it touches and of the models that refer
to them, before and after it. Keeping ``ProjectState.apps`` rendered for
that makes Django re-render, on every operation, the changed model and every
model related to it (``reload_model``): about a dozen model classes per
operation, 85% of what ``reconcile`` took on a project of 300 migrations.

:class:`LightApps` answers the same ``get_models()`` / ``get_model()`` with
stand-ins built from the unrendered :class:`ModelState` instead: a plain
class whose ``_meta`` is Django's own :class:`Options` (so ``db_table``,
``unique_together``, ``swapped``, ``pk``, ``get_field`` follow Django's
rules), holding shallow copies of the state's fields bound by
``set_attributes_from_name`` (so ``column``, ``db_parameters`` and
``target_field`` are Django's), relations pointing at other stand-ins, and
the auto-created many-to-many ``through`` model made as
``create_many_to_many_intermediary_model`` makes it. Stand-ins are cached and
dropped (:meth:`LightApps.forget`) when a migration changes their model or a
model they point at, so each migration builds only the few it touched.

Everything :func:`~migration_guard.reconcile.schema.expected.model_table` reads of a
stand-in is what it reads of a rendered model. Every field is bound as
Django's ``Field.contribute_to_class`` binds it, also one whose class does
more there (``TaggableManager``): what else such a method does (descriptors,
signals, managers) is no part of a table, and the columns it may add are
fields of the state in their own right. A model that cannot be described
(a relation to a model the state does not have, a proxy without a model
base) has no tables here and is listed in :attr:`LightApps.unsupported`;
the state's ``apps`` are never rendered (``render=True`` asks for them, as
the oracle of the tests does).
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.apps import apps as global_apps
from django.conf import settings
from django.db import models
from django.db.migrations.state import ModelState, ProjectState
from django.db.models import GeneratedField
from django.db.models.fields import Field
from django.db.models.fields.proxy import OrderWrt
from django.db.models.fields.related import RECURSIVE_RELATIONSHIP_CONSTANT
from django.utils.functional import cached_property
from django.utils.module_loading import import_string

from migration_guard.compat.models import Options, m2m_db_table
from migration_guard.reconcile.schema import Schema, Table
from migration_guard.reconcile.schema.expected import has_tables, model_tables
from migration_guard.run.planning import Key


class Unsupported(Exception):
    """A model state that stand-ins cannot describe (it has no tables here)."""


@dataclass(frozen=True)
class _Reverse:
    """A reverse relation, as far as ``Options.related_objects`` users read it."""

    related_model: Any


class LightOptions(Options):
    """``Options`` whose reverse relations come from ``ProjectState.relations``.

    Django computes ``related_objects`` by scanning every model of the
    registry; the state keeps the same map up to date without rendering.
    Like Django's, it leaves out hidden relations (``related_name='+'``)
    except many-to-many ones.
    """

    light: LightApps
    #: what a referring model reads of this one (:meth:`LightApps._signature`)
    signature: tuple[Any, ...] | None = None

    @property
    def related_objects(self) -> list[_Reverse]:  # type: ignore[override]
        key = (self.app_label, self.model_name or "")
        relations = self.light.state.relations.get(key, {})
        return [
            _Reverse(self.light.get_model(*referrer))
            for referrer, fields in relations.items()
            if any(not f.remote_field.hidden or f.many_to_many for f in fields.values())
        ]


@cache
def _cached_names(cls: Any) -> frozenset[str]:
    """The cached properties of a class (a copy must not inherit their values)."""
    return frozenset(
        name
        for klass in cls.__mro__
        for name, value in vars(klass).items()
        if isinstance(value, cached_property)
    )


class LightApps:
    """``get_models()`` / ``get_model()`` of a :class:`ProjectState`, unrendered.

    ``render=True`` answers from the rendered ``state.apps`` instead (what the
    tests compare the stand-ins with); nothing else renders the state.
    """

    def __init__(
        self,
        state: ProjectState,
        connection: Any,
        backend: Any,
        *,
        render: bool = False,
    ) -> None:
        self.state = state
        self.connection = connection
        self.backend = backend
        self.models: dict[Key, Any] = {}
        #: the tables of a stand-in, as long as it is the cached one
        self.tables_of: dict[Key, tuple[Any, list[Table]]] = {}
        self.rendered = render
        #: models that cannot be described, and why (no tables for them)
        self.unsupported: dict[Key, str] = {}

    def get_models(self) -> list[Any]:
        if self.rendered:
            return list(self.state.apps.get_models())
        found = []
        for key in list(self.state.models):
            try:
                found.append(self._model(key))
            except Unsupported:
                continue
        return found

    def get_model(self, app_label: str, model_name: str) -> Any:
        if self.rendered:
            return self.state.apps.get_model(app_label, model_name)
        key = (app_label, model_name.lower())
        if key not in self.state.models:
            if app_label in self.state.real_apps:
                return global_apps.get_model(app_label, model_name)
            raise LookupError(f"No model {app_label}.{model_name} in the state.")
        try:
            return self._model(key)
        except Unsupported as exc:
            raise LookupError(str(exc)) from exc

    def tables(self, keys: Iterable[Key]) -> Schema:
        """The tables the models of ``keys`` expect (absent models: none)."""
        schema: Schema = {}
        for key in keys:
            try:
                model = self.get_model(*key)
            except LookupError:
                continue
            if not has_tables(model, self.connection.alias):
                continue
            cached = self.tables_of.get(key)
            if cached is not None and cached[0] is model:
                tables = cached[1]
            else:
                tables = model_tables(model, self.connection, self.backend)
                if not self.rendered:
                    self.tables_of[key] = (model, tables)
            for table in tables:
                schema[table.name] = table
        return schema

    def forget(self, touched: Iterable[Key] | None) -> None:
        """Rebuild the stand-ins of ``touched``, after the state changed.

        The models that refer to one of them keep theirs unless what a
        reference reads of it changed (:meth:`_signature`); those are rebuilt
        in turn, and so on, with the proxies (whose primary key is their
        concrete model's). ``None`` (changes not known) drops them all, and
        so does a model that disappeared (deleted or renamed), whose
        referrers the state no longer lists. Keys of no model are ignored
        (``touched_models`` also collects field names).
        """
        if self.rendered:
            return  # Django keeps state.apps up to date
        pending = list(touched) if touched is not None else None
        if pending is None or any(
            key in self.models and key not in self.state.models for key in pending
        ):
            self.models.clear()
            return
        while pending:
            # every stand-in of a round is dropped before any is rebuilt,
            # so that none is rebuilt pointing at another's stale one (a
            # foreign key altered along with the primary key it targets);
            # one never built has no stale one to refer to
            stale = {key: self.models.pop(key) for key in pending if key in self.models}
            pending = []
            for key, old in stale.items():
                try:
                    new = self._model(key)
                except Unsupported:
                    new = None
                if new is None or self._signature(old) != self._signature(new):
                    pending.extend(self.state.relations.get(key, {}))
                    for other, model in list(self.models.items()):
                        if model._meta.proxy:
                            self.models.pop(other)

    def _signature(self, model: Any) -> tuple[Any, ...]:
        """What a model referring to ``model`` reads of it.

        Its table name, whether it is managed (an auto-created through table
        is managed when either side is) and, for the fields a foreign key can
        target (the primary key and unique fields), their columns and what
        the referring column's class and type are made of.
        """
        opts = model._meta
        if opts.signature is None:  # a stand-in never changes: compute it once
            opts.signature = (
                opts.db_table,
                opts.managed,
                tuple(
                    (field.name, self._shape(field))
                    for field in opts.local_fields
                    if field.primary_key or field.unique
                ),
            )
        return tuple(opts.signature)

    def _shape(self, field: Any) -> tuple[Any, ...]:
        target = (
            self._shape(field.target_field)
            if field.is_relation and (field.many_to_one or field.one_to_one)
            else None
        )
        return (
            field.column,
            type(field),
            field.get_internal_type(),
            field.db_type(self.connection),  # rel_db_type() follows from it
            target,
        )

    # -- building ------------------------------------------------------------

    def _model(self, key: Key) -> Any:
        model = self.models.get(key)
        if model is None:
            try:
                model = self.models[key] = self._build(self.state.models[key])
            except Unsupported as exc:
                self.unsupported[key] = str(exc)
                raise
            self.unsupported.pop(key, None)
        return model

    def _resolve(self, relation: Any, model: Any) -> Any:
        """The stand-in (or real model) a relation names."""
        if not isinstance(relation, str):
            return relation
        if relation == RECURSIVE_RELATIONSHIP_CONSTANT:
            return model
        app_label, _, name = relation.rpartition(".")
        try:
            return self.get_model(app_label or model._meta.app_label, name)
        except LookupError as exc:
            raise Unsupported(str(exc)) from exc

    def _build(self, state: ModelState) -> Any:
        """A stand-in for the model ``state.render()`` would make."""
        options = {k: v for k, v in state.options.items() if k != "index_together"}
        cls, opts = self._class(state.name, state.app_label, options)
        self.models[(state.app_label, state.name_lower)] = cls  # self-references
        try:
            for name, field in state.fields.items():
                _bind(field, name, cls)
            if opts.order_with_respect_to:
                _bind(OrderWrt(), "_order", cls)
            if opts.proxy:
                bases = [b for b in state.bases if isinstance(b, str)]
                if not bases:
                    raise Unsupported(f"proxy {state.name} without a model base")
                concrete = self._resolve(bases[0], cls)._meta.concrete_model
                opts.setup_proxy(concrete)
                opts.concrete_model = concrete
            elif opts.pk is None:
                _bind(_default_pk(), "id", cls)
            for field in [*opts.local_fields, *opts.local_many_to_many]:
                if field.is_relation:
                    self._relate(field, cls)
        except BaseException:
            del self.models[(state.app_label, state.name_lower)]
            raise
        return cls

    def _class(
        self, name: str, app_label: str, options: dict[str, Any]
    ) -> tuple[Any, LightOptions]:
        meta = type("Meta", (), {"app_label": app_label, **options})
        opts = LightOptions(meta, app_label)
        opts.light = self
        cls = type(name, (), {"__module__": "__fake__"})
        opts.contribute_to_class(cls, name)
        opts.concrete_model = cls
        return cls, opts

    def _relate(self, field: Any, cls: Any) -> None:
        """Point a bound relation at its target; make an auto-created through."""
        remote = field.remote_field
        remote.model = self._resolve(remote.model, cls)
        if not field.many_to_many:
            return
        if remote.through is not None:
            remote.through = self._resolve(remote.through, cls)
        elif not cls._meta.swapped:
            remote.through = self._through(field, cls)

    def _through(self, field: Any, cls: Any) -> Any:
        """The model ``create_many_to_many_intermediary_model`` would make."""
        to_model = field.remote_field.model
        to = to_model._meta.model_name
        from_ = cls._meta.model_name
        if to == from_:
            to, from_ = f"to_{to}", f"from_{from_}"
        through, opts = self._class(
            f"{cls._meta.object_name}_{field.name}",
            cls._meta.app_label,
            {
                "db_table": m2m_db_table(field, cls._meta),
                "auto_created": cls,
                "db_tablespace": cls._meta.db_tablespace,
                "unique_together": (from_, to),
            },
        )
        opts.managed = cls._meta.managed or to_model._meta.managed
        for name, target in ((from_, cls), (to, to_model)):
            fk = models.ForeignKey(
                target,
                on_delete=models.CASCADE,
                related_name=f"{through.__name__}+",
                db_tablespace=field.db_tablespace,
                db_constraint=field.remote_field.db_constraint,
            )
            _bind(fk, name, through)
        _bind(_default_pk(), "id", through)
        return through


def _default_pk() -> Any:
    """The pk a state model without one gets (``AppConfigStub``: the setting)."""
    return import_string(settings.DEFAULT_AUTO_FIELD)(
        verbose_name="ID", primary_key=True, auto_created=True
    )


def _bind(field: Any, name: str, cls: Any) -> Any:
    """A copy of ``field`` bound to ``cls`` as ``contribute_to_class`` binds it.

    The state's own field objects are shared with the migrations, so they are
    copied, as ``ModelState.render`` clones them; unlike a clone, a copy
    costs no ``deconstruct()``. Relations keep their (copied) ``remote_field``
    pointing at the state's model reference until :meth:`LightApps._relate`.
    """
    kind: Any = type(field)
    bound = _copy(field)
    if _may_hold_fields(kind):  # ArrayField's base_field is bound too
        for attr, value in list(bound.__dict__.items()):
            if isinstance(value, Field):
                inner = bound.__dict__[attr] = _copy(value)
                inner.name = None
    bound.name = None
    bound.set_attributes_from_name(name)
    bound.model = cls
    if bound.is_relation:
        bound.opts = cls._meta
        bound.remote_field = _copy(field.remote_field)
        bound.remote_field.field = bound
    cls._meta.add_field(bound)
    return bound


@cache
def _may_hold_fields(cls: Any) -> bool:
    """Whether a field may keep another field (Django's own keep none but one)."""
    return not cls.__module__.startswith("django.db.models.") or issubclass(
        cls, GeneratedField
    )


def _copy(obj: Any) -> Any:
    """A shallow copy without the values its cached properties hold."""
    duplicate = copy.copy(obj)
    cls: Any = type(obj)
    for attr in _cached_names(cls) & duplicate.__dict__.keys():
        del duplicate.__dict__[attr]
    return duplicate
