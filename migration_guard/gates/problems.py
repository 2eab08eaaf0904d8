"""The static gates of ``checkmigrations``, as problems to report.

Conflicts (several leaves in an app), the data-migration lint, mixed deploy
phases, the lock-aware gates, other irreversible operations and migrations
edited after they were applied: each a :class:`Section` of :class:`Problem`,
computed one after the other (:func:`static_sections`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import DatabaseError, connections
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.operations import RunPython, RunSQL

from migration_guard.gates import lint
from migration_guard.gates import locks as gates
from migration_guard.gates.roundtrip import irreversible_operations
from migration_guard.run import phases


@dataclass(frozen=True)
class Problem:
    """One failed gate: what, where, and what to do."""

    check: str
    app_label: str
    migration_name: str | None
    message: str
    operation_index: int | None = None
    hint: str = ""

    @property
    def where(self) -> str:
        if self.migration_name is None:
            return self.app_label
        return f"{self.app_label}.{self.migration_name}"

    def as_json(self) -> dict[str, Any]:
        return {
            "check": self.check,
            "app": self.app_label,
            "name": self.migration_name,
            "operation_index": self.operation_index,
            "message": self.message,
            "hint": self.hint or None,
        }


def conflicts(loader: MigrationLoader, labels: Iterable[str]) -> list[Problem]:
    found = loader.detect_conflicts()
    return [
        Problem(
            "conflict",
            app,
            None,
            f"multiple leaf migrations in {app}: {', '.join(sorted(names))}",
            hint=f"python manage.py makemigrations --merge {app}",
        )
        for app, names in sorted(found.items())
        if app in set(labels)
    ]


def irreversible(loader: MigrationLoader, labels: Iterable[str]) -> list[Problem]:
    """Operations that cannot be unapplied, other than RunPython/RunSQL.

    A RunPython/RunSQL without reverse is lint's ``migration_guard.W010``; the
    others (an operation whose ``reversible`` is False, also inside
    ``SeparateDatabaseAndState``) are reported here, and silenced by the same
    ``migration_guard_silence = ["migration_guard.W010"]``.
    """
    wanted = set(labels)
    problems = []
    for (app, name), migration in sorted(loader.disk_migrations.items()):
        if app not in wanted or lint.NO_REVERSE in lint.silenced_ids(migration):
            continue
        for index, operation in enumerate(migration.operations):
            for blocking in irreversible_operations([operation]):
                if isinstance(blocking, RunPython | RunSQL):
                    continue
                nested = (
                    " (inside SeparateDatabaseAndState)"
                    if blocking is not operation
                    else ""
                )
                problems.append(
                    Problem(
                        "irreversible",
                        app,
                        name,
                        f"operations[{index}] {lint.describe(blocking)}{nested} "
                        "cannot be reversed: the migration cannot be unapplied.",
                        operation_index=index,
                        hint="Use reversible operations, or silence it for this "
                        f'migration with {lint.SILENCE_ATTRIBUTE} = ["'
                        f'{lint.NO_REVERSE}"].',
                    )
                )
    return problems


def lint_problems(loader: MigrationLoader, labels: list[str]) -> list[Problem]:
    """The findings of :mod:`migration_guard.gates.lint` (silenced ones left out)."""
    return finding_problems(lint.lint(loader, labels))


def finding_problems(findings: Iterable[lint.Finding]) -> list[Problem]:
    return [
        Problem(
            finding.check_id,
            finding.app_label,
            finding.migration_name,
            finding.message,
            operation_index=finding.operation_index,
            hint=finding.hint,
        )
        for finding in findings
    ]


def edited(alias: str, labels: list[str]) -> tuple[list[Problem], list[str], str]:
    """Applied migrations whose operations changed; file-only changes; a note."""
    from migration_guard.gates.checksums import edited_migrations

    try:
        loader = MigrationLoader(connections[alias])
        edits = edited_migrations(alias, loader)
    except DatabaseError as exc:
        reason = " ".join(str(exc).split())
        return [], [], f"not checked: cannot read database '{alias}' ({reason})"
    wanted = set(labels)
    problems, reformatted = [], []
    for edit in edits:
        if edit.app_label not in wanted:
            continue
        if edit.operations_changed:
            problems.append(
                Problem(
                    "edited",
                    edit.app_label,
                    edit.name,
                    edit.message(),
                    hint="revert the file, or put the change in a new migration; "
                    f"if it is deliberate: checkmigrations --accept {edit.app_label} "
                    f"{edit.name} --reason TEXT",
                )
            )
        else:
            reformatted.append(edit.message())
    return problems, reformatted, ""


@dataclass
class Section:
    """One gate's result: its problems, as shown and as the JSON ``checks`` has it."""

    #: the key of ``checks`` in the JSON document
    key: str
    title: str
    problems: list[Problem]
    #: instead of the count: why the gate did not run
    note: str = ""
    #: lines shown after the problems
    notices: list[str] = field(default_factory=list)
    #: more keys of ``checks``, after ``key``
    extra: dict[str, Any] = field(default_factory=dict)
    #: problems left out by ``SILENCED_SYSTEM_CHECKS``, per id
    silenced: dict[str, int] = field(default_factory=dict)


def static_sections(
    alias: str, loader: MigrationLoader, labels: list[str]
) -> Iterator[Section]:
    """Every static gate on apps ``labels``, one section at a time.

    An id in ``SILENCED_SYSTEM_CHECKS`` is silenced here too, as for any
    check: its problems are left out, and the section says how many.
    """
    silenced = frozenset(settings.SILENCED_SYSTEM_CHECKS)
    for section in _sections(alias, loader, labels):
        yield _without_silenced(section, silenced)


def _without_silenced(section: Section, silenced: frozenset[str]) -> Section:
    left_out = Counter(p.check for p in section.problems if p.check in silenced)
    if not left_out:
        return section
    section.problems = [p for p in section.problems if p.check not in silenced]
    count = sum(left_out.values())
    section.notices.append(
        f"{count} silenced by SILENCED_SYSTEM_CHECKS ({', '.join(sorted(left_out))})"
    )
    section.silenced = dict(sorted(left_out.items()))
    return section


def _sections(
    alias: str, loader: MigrationLoader, labels: list[str]
) -> Iterator[Section]:
    yield Section("conflicts", "Conflicts", conflicts(loader, labels))
    yield Section("lint", "Data migrations (lint)", lint_problems(loader, labels))
    yield Section(
        "phases",
        "Deploy phases (mixed migrations)",
        finding_problems(phases.mixed(loader, labels)),
    )
    connection = connections[alias]
    server = gates.server_of(connection)
    yield Section(
        "gates",
        f"Lock-aware gates ({server.describe()})",
        finding_problems(gates.gate(loader, labels, server, connection)),
        extra={"gates_server": server.describe()},
    )
    yield Section(
        "irreversible", "Other irreversible operations", irreversible(loader, labels)
    )
    found, reformatted, note = edited(alias, labels)
    yield Section(
        "edited",
        f"Edited after being applied on database '{alias}'",
        found,
        note,
        notices=reformatted,
        extra={"reformatted": reformatted, "edited_note": note or None},
    )
