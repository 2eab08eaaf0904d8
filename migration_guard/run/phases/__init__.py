"""Deploy phases: which migrations keep the previous release working.

A zero-downtime deploy runs migrations twice: ``--phase pre-deploy`` before
the new code is rolled out applies only *expand* migrations, whose every
operation keeps the release still serving traffic working (a new table, a
nullable column, an index); ``--phase post-deploy`` after the rollout applies
the rest (*contract*: drops, renames, NOT NULL, constraints, data changes).

:func:`classify_operation` decides one operation (the table in README,
"Phases": :mod:`.operations`); :func:`classify_migration` a migration, where
a marker (:mod:`.markers`) wins over the operations (:mod:`.history`):

* ours: ``migration_guard_phase = "pre-deploy"`` or ``"post-deploy"``;
* django-syzygy's ``stage = Stage.PRE_DEPLOY / Stage.POST_DEPLOY`` (on the
  migration, or on an operation);
* django-safemigrate's ``safe = Safe.before_deploy() / after_deploy() /
  always()`` (also the older ``Safe.before_deploy`` enum and ``True/False``).

The two packages are recognised by duck typing, never imported.
:func:`select` and :func:`restrict` cut a forward plan for a phase
(:mod:`.selection`). The names used outside the package are imported here.
"""

from migration_guard.run.phases.base import (
    MARKER,
    PHASES,
    MarkerError,
    MigrationPhase,
    OperationPhase,
    Phase,
)
from migration_guard.run.phases.history import (
    MIXED,
    classify_history,
    classify_migration,
    classify_migrations,
    mixed,
    phases_of,
)
from migration_guard.run.phases.markers import marker
from migration_guard.run.phases.operations import classify_operation
from migration_guard.run.phases.selection import Selection, restrict, select
from migration_guard.run.planning import Key

__all__ = [
    "MARKER",
    "MIXED",
    "PHASES",
    "Key",
    "MarkerError",
    "MigrationPhase",
    "OperationPhase",
    "Phase",
    "Selection",
    "classify_history",
    "classify_migration",
    "classify_migrations",
    "classify_operation",
    "marker",
    "mixed",
    "phases_of",
    "restrict",
    "select",
]
