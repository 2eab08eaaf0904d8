"""Phases and the verdicts on operations and migrations."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

from migration_guard.run.planning import Key

MARKER = "migration_guard_phase"


class Phase(enum.Enum):
    PRE = "pre-deploy"
    POST = "post-deploy"

    def __str__(self) -> str:
        return self.value


PHASES = tuple(p.value for p in Phase)


class MarkerError(ValueError):
    """A phase marker with a value no phase matches."""


@dataclass(frozen=True)
class OperationPhase:
    """The phase of ``operations[index]``; ``neutral``: nothing a release sees."""

    index: int
    description: str
    phase: Phase
    reason: str
    neutral: bool = False

    def describe(self) -> str:
        return f"operations[{self.index}] {self.description} {self.reason}"


@dataclass(frozen=True)
class MigrationPhase:
    key: Key
    phase: Phase
    #: why, in words: the marker, or the first operation of the phase
    reason: str
    marker: str | None
    operations: tuple[OperationPhase, ...]

    @property
    def label(self) -> str:
        return f"{self.key[0]}.{self.key[1]}"

    @property
    def mixed(self) -> bool:
        """Unmarked, with operations of both phases (neutral ones aside)."""
        if self.marker is not None:
            return False
        seen = {op.phase for op in self.operations if not op.neutral}
        return len(seen) == 2

    def as_json(self) -> dict[str, Any]:
        return {"phase": self.phase.value, "reason": self.reason, "marker": self.marker}
