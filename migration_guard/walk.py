"""One walk over the history, with the project state before each migration.

Previews, backward SQL, round trips and ``reconcile`` need the project state
before some migrations. Django gives it two ways, both too slow on a real
history: ``MigrationLoader.project_state(key)`` replays the graph for each
call (quadratic), and the executor's state renders every model and then
re-renders the related ones at each operation (thousands of renders).

A :class:`StateWalk` builds one :class:`ProjectState` and moves it past each
migration in place, in :func:`~migration_guard.run.planning.history_order`,
with ``state_forwards`` only: no clone per step, and its ``apps`` are never
rendered. A visitor must neither render the walk's state nor keep it past
its visit (it moves on); to render some models, it clones their model
states (:class:`migration_guard.rollback.partial.Partial`).

While a walk runs, the heap that was there before it is frozen
(:func:`gc.freeze`): its visitors make and drop model classes and states by
the thousand, full of reference cycles, and each full collection they
trigger would otherwise traverse every object of the started project (the
settings, the app registry, every imported module) to find none of them
garbage. The young objects are collected as usual; the frozen ones go back
to the collector when the walk ends. Only a walk that found nothing frozen
freezes (and unfreezes): :func:`gc.unfreeze` gives back every frozen
object, so a walk inside a walk would thaw the outer walk's heap, and any
walk the heap a program froze itself (a pre-fork server's ``gc.freeze()``).
Nor does a walk freeze when an earlier walk (frozen or not) ended and no
full collection has run since: :func:`gc.freeze` freezes the garbage not
yet collected too, and walks in a row froze each other's states (four
walks of a 1200-migration project peaked at 139 MB instead of 85 MB; now
85 MB, as without the freeze). Such a walk runs with the collector as
usual, whose next full collection frees them; collecting before each
freeze instead cost more full collections than the freeze saves
(``rollbackplan --sql`` walks twice).
"""

from __future__ import annotations

import gc
import sys
from collections.abc import Collection, Iterator, Sequence

from django.db.migrations.loader import MigrationLoader
from django.db.migrations.migration import Migration
from django.db.migrations.operations.base import Operation
from django.db.migrations.state import ProjectState

from migration_guard.run.planning import Key, OfMigration, Plan, history_order


class Visit(OfMigration):
    """One migration of a walk and the walk's state, before the migration.

    A visitor that needs the state between operations moves it itself:
    :meth:`operations` yields each operation with the state before it, and
    :meth:`step` applies the next one. Whatever the visitor left unapplied
    is applied when the walk moves on.
    """

    def __init__(self, migration: Migration, state: ProjectState) -> None:
        self.migration = migration
        self.state = state
        self._applied = 0

    @property
    def pending(self) -> bool:
        """Whether an operation of the migration is not yet applied to the state."""
        return self._applied < len(self.migration.operations)

    def step(self) -> Operation:
        """Apply the next operation to the state; returns it."""
        operation = self.migration.operations[self._applied]
        operation.state_forwards(self.migration.app_label, self.state)
        self._applied += 1
        return operation

    def skip(self) -> Operation:
        """Leave the next operation unapplied (one the state cannot take)."""
        operation = self.migration.operations[self._applied]
        self._applied += 1
        return operation

    def operations(self) -> Iterator[tuple[Operation, ProjectState]]:
        """Each operation left, with the state before it (moved past it after)."""
        while self.pending:
            yield self.migration.operations[self._applied], self.state
            self.step()

    def finish(self) -> None:
        """Apply what is left of the migration to the state."""
        while self.pending:
            self.step()


#: Python 3.12 keeps objects in the permanent generation after any full
#: collection (375 in a bare interpreter), so there a frozen heap cannot be
#: told from the runtime's own: the walk leaves the collector alone (3.11 and
#: 3.13 report 0 until something calls gc.freeze())
FREEZES = sys.version_info[:2] != (3, 12)


class _Garbage:
    #: the number of full collections when the last walk ended: until another
    #: runs, its garbage may be uncollected (None: no walk ended)
    walk_ended: int | None = None


def _full_collections() -> int:
    return int(gc.get_stats()[2]["collections"])


class StateWalk:
    """Each migration of ``order`` with the project state before it.

    ``order``: the migrations, in the order to apply them (default: the
    whole :func:`~migration_guard.run.planning.history_order`).
    ``through``: only these migrations are visited and make the state
    (default: all of ``order``). ``until``: the walk ends once all of these
    were visited (default: at the end of ``order``).
    """

    def __init__(
        self,
        loader: MigrationLoader,
        *,
        order: Sequence[Migration] | None = None,
        through: Collection[Key] | None = None,
        until: Collection[Key] | None = None,
    ) -> None:
        self.loader = loader
        self.order = history_order(loader) if order is None else order
        self.through = through
        self.until = until
        #: the state every visit sees, before its migration
        self.state = ProjectState(real_apps=loader.unmigrated_apps)

    def __iter__(self) -> Iterator[Visit]:
        left = None if self.until is None else set(self.until)
        if left is not None and not left:
            return
        if not FREEZES or gc.get_freeze_count():  # not the walk's (see above)
            yield from self._visits(left)
            return
        freeze = _full_collections() != _Garbage.walk_ended
        if freeze:
            gc.freeze()
        try:
            yield from self._visits(left)
        finally:
            if freeze:
                gc.unfreeze()
            _Garbage.walk_ended = _full_collections()

    def _visits(self, left: set[Key] | None) -> Iterator[Visit]:
        for migration in self.order:
            visit = Visit(migration, self.state)
            if self.through is not None and visit.key not in self.through:
                continue
            yield visit
            visit.finish()
            if left is not None:
                left.discard(visit.key)
                if not left:
                    return


def plan_walk(plan: Plan) -> StateWalk:
    """The walk of the applied history up to the last migration of ``plan``.

    Every step of the plan is visited with the state before it, as the
    executor applies them: a backward plan's migrations are applied, a
    forward plan's are added after the history they depend on.
    """
    wanted = set(plan.keys())
    return StateWalk(
        plan.loader,
        through=set(plan.loader.applied_migrations) | wanted,
        until=wanted,
    )
