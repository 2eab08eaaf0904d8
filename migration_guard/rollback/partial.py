"""The part of a project state one migration's SQL needs, rendered alone.

Rendering a :class:`ProjectState` renders every model, and once its
``apps`` exist each later operation re-renders the models related to the
one it changes (all of them, recursively, for a relation): thousands of
renders on a real project. The walks of previews and round trips keep
their state unrendered; for a migration whose SQL is wanted they render
only the models its operations refer to, their ancestors, the models that
point at those (a renamed model or primary key, or a unique field a
relation names, changes their foreign keys), and whatever those point at
in turn (a model renders only with its related models), and let Django
keep that small state up to date as the executor does
(``Migration.unapply`` clones and mutates one rendered state).

An operation that cannot say which models it refers to (the default of
``Operation.references_model`` is "all of them"), and ``RunPython``, whose
code may use any model, get the whole state.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import Any

from django.db import models
from django.db.migrations import operations as ops
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import (
    ModelState,
    ProjectState,
    get_related_models_tuples,
)
from django.db.migrations.utils import resolve_relation

from migration_guard.compat.migrations import clone_apps, reload_models
from migration_guard.unwrap import changes_column, database_operations

ModelKey = tuple[str, str]


def referred(
    operation: Operation, app_label: str, state: ProjectState, *, code: bool
) -> tuple[set[ModelKey], set[ModelKey]] | None:
    """The models ``operation`` changes and those it only refers to; None: all.

    ``code``: whether ``RunPython`` runs (its functions may use any model) or
    is skipped (SQL is collected).
    """
    if isinstance(operation, ops.RunPython):
        return None if code else (set(), set())
    if isinstance(operation, ops.RunSQL):
        return set(), set()
    if isinstance(operation, ops.SeparateDatabaseAndState):
        changed: set[ModelKey] = set()
        others: set[ModelKey] = set()
        for inner in database_operations(operation):
            more = referred(inner, app_label, state, code=code)
            if more is None:
                return None
            changed |= more[0]
            others |= more[1]
        return changed, others
    model_name = getattr(operation, "model_name_lower", None)
    if model_name and _sql_blind(operation, app_label, state):
        return set(), {(app_label, model_name)}  # nothing of the model changes
    if type(operation).references_model is Operation.references_model and model_name:
        # index and constraint operations say which model, not what it refers to
        return set(), {(app_label, model_name)}
    found = {
        key
        for key in state.models
        if operation.references_model(key[1], key[0])  # (name, app_label)
    }
    if found and len(found) == len(state.models) > 2:
        return None  # Operation.references_model's default: "maybe all"
    changed = {(app_label, name) for name in _own_names(operation)}
    if not _moves_keys(operation, app_label, state):
        return set(), found  # rendered with what it points at, not its referrers
    return changed, found - changed


def _own_names(operation: Operation) -> list[str]:
    """The model an operation changes: a field or index operation's model, else
    a model operation's own name (a renamed model's two names)."""
    names = [getattr(operation, "model_name_lower", None)]
    if names[0] is None:
        names = [getattr(operation, "name_lower", None)]
    if isinstance(operation, ops.RenameModel):
        names.append(operation.new_name_lower)
    return [name for name in names if isinstance(name, str)]


def _moves_keys(operation: Operation, app_label: str, state: ProjectState) -> bool:
    """Whether undoing ``operation`` can change the foreign keys pointing at its model.

    A renamed model or table, a changed or renamed primary key, and a
    changed or renamed unique field a relation points at by name (its
    ``to_field``): the schema editor then rewrites the referencing columns
    and constraints, found through the model's reverse relations (those it
    reads, ``_is_relevant_relation`` and SQLite's ``field_name`` test, point
    at the primary key or at the field by name). Everything else only needs
    the model and what it points at.
    """
    if isinstance(operation, ops.RenameModel | ops.AlterModelTable):
        return True
    if not isinstance(
        operation, ops.AddField | ops.RemoveField | ops.AlterField | ops.RenameField
    ):
        return False
    key = (app_label, operation.model_name_lower)
    model_state = state.models.get(key)
    names = {operation.name, getattr(operation, "old_name", None)}
    names.add(getattr(operation, "new_name", None))
    found = [getattr(operation, "field", None)]
    if model_state is not None:
        found += [model_state.fields.get(name) for name in names if name]
    fields = [field for field in found if field is not None]
    if any(field.primary_key for field in fields):
        return True
    return any(field.unique for field in fields) and _named_by_relation(
        state, key, {name for name in names if name}
    )


def _named_by_relation(state: ProjectState, key: ModelKey, names: set[str]) -> bool:
    """Whether a relation of ``state`` points at one of the fields ``names`` of
    the model ``key`` by name (``to_field``)."""
    for other, model_state in state.models.items():
        for field in model_state.fields.values():
            remote = field.remote_field
            if remote is None or not names & set(getattr(field, "to_fields", ()) or ()):
                continue
            if resolve_relation(remote.model, *other) == key:
                return True
    return False


def _bases(key: ModelKey, model_state: ModelState) -> Iterator[ModelKey]:
    for base in model_state.bases:
        if isinstance(base, str):
            yield resolve_relation(base, key[0])
        elif isinstance(base, type) and issubclass(base, models.Model):
            meta = getattr(base, "_meta", None)  # models.Model itself has none
            if meta is not None and not meta.abstract:
                yield (meta.app_label, meta.model_name or "")


def _pointed_at(key: ModelKey, model_state: ModelState) -> Iterator[ModelKey]:
    """What a model needs to render: its bases and its relations' targets."""
    yield from _bases(key, model_state)
    for field in model_state.fields.values():
        remote = field.remote_field
        if remote is None:
            continue
        yield resolve_relation(remote.model, *key)
        through = getattr(remote, "through", None)
        if through:
            yield resolve_relation(through, *key)


def _referrers(state: ProjectState, keys: set[ModelKey]) -> set[ModelKey]:
    """The models with a relation to one of ``keys``.

    Read from the model states, not ``ProjectState.relations``: once that is
    computed, ``ProjectState.alter_field`` moves the altered field to the end
    of its model (and SQLite rebuilds tables with their columns in that
    order), which ``migrate``, never computing it, does not do.
    """
    if not keys:
        return set()
    return {
        key
        for key, model_state in state.models.items()
        if any(target in keys for target in _pointed_at(key, model_state))
    }


def key_holders(state: ProjectState, key: ModelKey) -> set[ModelKey]:
    """``key`` and the models whose columns hold its keys.

    The models pointing at ``key`` (their foreign key columns take the type
    of the key they point at), and, when such a model's own primary key is
    that relation (a multi-table inheritance child, a one-to-one primary
    key), the models pointing at it in turn. What ``key`` points at keeps its
    class: nothing of it changed.
    """
    found = {key}
    stack = [key]
    while stack:
        for referrer in _referrers(state, {stack.pop()}) - found:
            found.add(referrer)
            fields = state.models[referrer].fields.values()
            if any(f.primary_key and f.remote_field is not None for f in fields):
                stack.append(referrer)
    return found


def needed(
    state: ProjectState, changed: Iterable[ModelKey], others: Iterable[ModelKey]
) -> set[ModelKey]:
    """The models changed, those pointing at them, the others, and what every
    one of them points at, transitively (see the module docstring)."""
    mine = {key for key in changed if key in state.models}
    stack = [*mine, *_referrers(state, mine), *others]
    found: set[ModelKey] = set()
    while stack:
        key = stack.pop()
        if key not in found and key in state.models:
            found.add(key)
            stack += _pointed_at(key, state.models[key])
    return found


def keys_for(
    migration: Migration, state: ProjectState, *, code: bool = False
) -> set[ModelKey]:
    """The models of ``state`` (before ``migration``) that its SQL needs."""
    changed: set[ModelKey] = set()
    others: set[ModelKey] = set()
    for operation in migration.operations:
        more = referred(operation, migration.app_label, state, code=code)
        if more is None:
            return set(state.models)
        changed |= more[0]
        others |= more[1]
    return needed(state, changed, others)


def touched(migration: Migration, state: ProjectState) -> set[ModelKey] | None:
    """The models ``migration`` changes in ``state``; None: maybe any."""
    found: set[ModelKey] = set()
    for operation in migration.operations:
        if isinstance(operation, ops.SeparateDatabaseAndState | ops.RunSQL):
            inner = getattr(operation, "state_operations", [])
        else:
            inner = [operation]
        for each in inner:
            if isinstance(each, ops.RunPython):
                continue
            more = referred(each, migration.app_label, state, code=False)
            if more is None:
                return None
            found |= more[0] | {
                (migration.app_label, name) for name in _own_names(each)
            }
    return found


class _DelayedState(ProjectState):
    """A rendered state whose operations use Django's delayed reload.

    ``ProjectState.reload_model(delay=False)``, which an operation on a
    relation asks for, re-renders every model related to the changed one,
    recursively; ``delay=True``, Django's own choice for other operations,
    re-renders the model, those it points at and those pointing at them. An
    operation that moves no keys (:func:`_moves_keys`) needs only its own
    model rendered again (:func:`light_forwards`): the models around it keep
    their columns; a field operation that moves keys, its model and the
    models holding those keys (:func:`key_holders`). The stale classes do
    not change the SQL of later operations (the corpus's backward SQL is the
    one a state rendered whole gives, and SQLite's table rebuilds the ones
    ``sqlmigrate --backwards`` prints), and ``RunPython``, which could see
    them, is never run on these states (it clears the delayed cache first
    anyway).
    """

    #: set while an operation that moves no keys runs: only its model is
    #: rendered again (see :func:`light_forwards`)
    light = False
    #: set while an operation no SQL can see runs: nothing is rendered again
    blind = False
    #: set while a field operation that moves keys runs: its model and the
    #: models holding those keys are rendered again (see :func:`key_holders`)
    keys = False

    def reload_model(
        self, app_label: str, model_name: str, delay: bool = False
    ) -> None:
        if "apps" in self.__dict__:
            if self.blind:
                return
            if self.light:
                reload_models(self, {(app_label, model_name)})
                return
            if self.keys:
                _reload_key_holders(self, (app_label, model_name))
                return
        super().reload_model(app_label, model_name, delay=True)

    def clone(self) -> ProjectState:
        """``ProjectState.clone``, the registry cloned by :func:`clone_apps`."""
        new_state = _DelayedState(
            models={key: model.clone() for key, model in self.models.items()},
            real_apps=self.real_apps,
        )
        if "apps" in self.__dict__:
            new_state.apps = clone_apps(self.apps)
        new_state.is_delayed = self.is_delayed
        return new_state


def _reload_key_holders(state: ProjectState, key: ModelKey) -> None:
    """Render again ``key`` and the models holding its keys (:func:`key_holders`).

    First, as Django's own reload does (``get_related_models_tuples`` of
    the model it replaces), the class being replaced learns the relations
    pointing at it: the state cloned before this operation keeps that
    class, and the schema editor reads its reverse relations there (once
    replaced, its registry no longer lists it, and would give none).
    """
    with contextlib.suppress(LookupError):
        get_related_models_tuples(state.apps.get_model(*key))
    reload_models(state, key_holders(state, key))


class Partial:
    """A rendered state of some models, reused while the walk leaves them alone.

    Consecutive migrations of one app mostly need the same models: the state
    rendered for one, which its own operations advanced past it as the
    executor's state is, serves the next one too when no migration in
    between changed any of its models and it has not grown to much more
    than is needed; the models it lacks are rendered into it, and a migration
    that needs none of them (it creates its models) runs on it too.
    """

    def __init__(self, *, delayed: bool = False) -> None:
        self.state: ProjectState | None = None
        #: Django's delayed reload for every operation (SQL collected, nothing
        #: run) instead of the recursive one for relations (migrations run)
        self.delayed = delayed
        #: a held state larger than ``growth`` times the models needed plus
        #: ``slack`` is rendered anew: each operation clones it, and a changed
        #: relation re-renders its related models (all of them, recursively,
        #: when migrations run). Collecting SQL re-renders only the models
        #: holding a moved key: on the corpus's plans 4 and 40 render as few
        #: as no limit does, 2 and 8 rendered 40% more.
        self.growth, self.slack = (4, 40) if delayed else (2, 8)

    def seen(self, migration: Migration, walk: ProjectState) -> None:
        """The walk applies ``migration`` (not previewed) to ``walk``."""
        if self.state is None:
            return
        changed = touched(migration, walk)
        if changed is None or changed & set(self.state.models):
            self.state = None

    def state_for(
        self, migration: Migration, walk: ProjectState, *, code: bool = False
    ) -> ProjectState:
        """A rendered state with what ``migration`` needs of ``walk`` (before it).

        ``walk`` itself is not changed (its model states are cloned) nor
        rendered. Models created by the migration are created in the
        returned state by its own operations. ``code``: the migration runs
        (its ``RunPython`` functions may use any model), see :func:`referred`.
        """
        keys = keys_for(migration, walk, code=code)
        if not keys:  # the held state, if the migration leaves it alone, takes
            self.seen(migration, walk)  # the models it creates
            if self.state is None:
                self.state = self._new({}, walk)
            return self.state
        held = set(self.state.models) if self.state is not None else set()
        limit = self.growth * len(keys) + self.slack
        if self.state is None or len(held | keys) > limit:
            self.state = self._new({key: walk.models[key] for key in keys}, walk)
        elif not keys <= held:
            self._extend(keys - held, walk)
        return self.state

    def _new(
        self, models: dict[ModelKey, ModelState], walk: ProjectState
    ) -> ProjectState:
        """A state of clones of ``models``, rendered (operations keep it up to date)."""
        state = (_DelayedState if self.delayed else ProjectState)(
            models={key: model.clone() for key, model in models.items()},
            real_apps=walk.real_apps,
        )
        state.apps  # noqa: B018  (rendered once)
        return state

    def _extend(self, missing: set[ModelKey], walk: ProjectState) -> None:
        """Render the models ``missing`` of ``walk`` into the held state.

        As ``CreateModel`` does to a rendered state: only the new models are
        rendered, into the same registry. The held models are the walk's
        (:meth:`seen` dropped a state the walk changed), and none of them
        points at a missing one (:func:`needed` keeps what a model points at).
        """
        assert self.state is not None
        for key in missing:
            self.state.models[key] = walk.models[key].clone()
        reload_models(self.state, missing)


def light_forwards(operation: Operation, app_label: str, state: ProjectState) -> None:
    """``operation.state_forwards``, rendering again as little as the SQL needs.

    On a :class:`_DelayedState`: nothing when the change is one no SQL reads
    (:func:`_sql_blind`: the model class keeps the old help text or
    ordering), only the operation's model when no key moves, the model and
    the holders of its keys when a field operation moves one, else (a
    renamed model or table) Django's delayed reload.
    """
    if not isinstance(state, _DelayedState):
        operation.state_forwards(app_label, state)
        return
    flag = "light"
    if _sql_blind(operation, app_label, state):
        flag = "blind"
    elif _moves_keys(operation, app_label, state):
        renames = isinstance(operation, ops.RenameModel | ops.AlterModelTable)
        flag = "" if renames else "keys"
    if flag:
        setattr(state, flag, True)
    try:
        operation.state_forwards(app_label, state)
    finally:
        if flag:
            setattr(state, flag, False)


def _sql_blind(operation: Operation, app_label: str, state: ProjectState) -> bool:
    """Whether no schema editor SQL depends on what ``operation`` changes.

    An ``AlterField`` of attributes Django keeps out of the schema
    (``Field.non_db_attrs``: choices, help text, validators...), as
    ``BaseDatabaseSchemaEditor._field_should_be_altered`` judges it, and
    options or managers that leave the model managed as it was. Later
    operations read the same columns and constraints from the model class
    rendered before it.
    """
    if isinstance(operation, ops.AlterModelManagers):
        return True
    if isinstance(operation, ops.AlterModelOptions):
        model_state = state.models.get((app_label, operation.name_lower))
        return model_state is not None and model_state.options.get(
            "managed", True
        ) == operation.options.get("managed", True)
    if isinstance(operation, ops.AlterField):
        model_state = state.models.get((app_label, operation.model_name_lower))
        old = None if model_state is None else model_state.fields.get(operation.name)
        return old is not None and not changes_column(old, operation.field)
    return False


def forwards(migration: Migration, state: ProjectState) -> None:
    """Advance an unrendered walk state past ``migration``."""
    for operation in migration.operations:
        operation.state_forwards(migration.app_label, state)


@contextmanager
def render_count() -> Iterator[list[int]]:
    """Count ``ModelState.render`` calls while in the block (tests, benchmarks)."""
    calls = [0]
    render = ModelState.render

    def counted(self: ModelState, apps: Any) -> Any:
        calls[0] += 1
        return render(self, apps)

    ModelState.render = counted  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        ModelState.render = render  # type: ignore[method-assign]
