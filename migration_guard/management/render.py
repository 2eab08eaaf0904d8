"""Rendering of command results: JSON documents and text tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from django.core.serializers.json import DjangoJSONEncoder

from migration_guard.models import MigrationRun

if TYPE_CHECKING:
    from migration_guard.gates.rehearse import Rehearsal


def to_json(document: Any) -> str:
    return json.dumps(document, cls=DjangoJSONEncoder, indent=2, sort_keys=False)


def run_document(run: MigrationRun) -> dict[str, Any]:
    """A ledger row as a JSON-able dict."""
    return {
        "id": run.pk,
        "database": run.alias,
        "vendor": run.vendor,
        "command": run.command,
        "user": run.user,
        "host": run.host,
        "argv": run.argv,
        "direction": run.direction,
        "fake": run.fake,
        "outcome": run.outcome,
        "plan": run.plan,
        "executed": run.executed,
        "applied": [
            f"{item['app']}.{item['name']}"
            for item in run.executed or []
            if item.get("action") == "applied"
        ],
        "applied_before": run.applied_before,
        "backup_id": run.backup_id or None,
        "backup_note": run.backup_note,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "duration": run.duration,
        "error": run.error or None,
        "django_version": run.django_version,
        "migration_guard_version": run.migration_guard_version,
        "log_position": run.log_position or None,
    }


def duration_text(run: MigrationRun) -> str:
    """A run's duration as every command and page shows it (the ledger's)."""
    return "-" if run.duration is None else f"{run.duration:.2f}s"


def table(rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns separated by two spaces."""
    if not rows:
        return []
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(
            cell.ljust(width) for cell, width in zip(row, widths, strict=True)
        ).rstrip()
        for row in rows
    ]


def human_size(size: int) -> str:
    """``1536`` -> ``1.5 KB``."""
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def _targets_text(preview: Any) -> str:
    parts = []
    for app, name in preview.plan.resolution.targets:
        parts.append(f"{app} back to {name}" if name else f"{app} back to zero")
    return ", ".join(parts) or "nothing"


def preview_lines(preview: Any, strategy: Any, run: Any, style: Any) -> list[str]:
    """The revert preview as text: a tree by app, in migrate's look."""
    alias = preview.plan.executor.connection.alias
    head = f"Rollback plan for database '{alias}': {_targets_text(preview)}"
    if run is not None:
        head += f" (undoes run {run.pk} of {run.started_at:%Y-%m-%d %H:%M:%S})"
    lines = [style.MIGRATE_HEADING(head)]
    if not preview.migrations:
        return [*lines, "  Nothing to unapply."]
    order = {m.key: i + 1 for i, m in enumerate(preview.migrations)}
    phase_of = _phases(preview)
    apps: dict[str, list[Any]] = {}
    for migration in preview.migrations:
        apps.setdefault(migration.key[0], []).append(migration)
    for app, migrations in apps.items():
        lines.append(style.MIGRATE_LABEL(f"  {app}"))
        for migration in migrations:
            mark = "" if migration.reversible else "  " + style.ERROR("IRREVERSIBLE")
            lines.append(f"    [{order[migration.key]}] {migration.label}{mark}")
            lines.append(f"        why: {migration.reason.describe()}")
            if migration.key in phase_of:
                lines.append(f"        phase: {phase_of[migration.key]}")
            for effect in migration.effects:
                text = effect.undo
                if not effect.reversible:
                    text = style.ERROR(text)
                elif effect.noop:
                    text = style.NOTICE(text)
                nested = " (in SeparateDatabaseAndState)" if effect.nested else ""
                lines.append(f"        - {text}{nested}")
                for risk in effect.risks:
                    lines.append("            " + _risk_line(risk, style))
    risks = [r for r in preview.risks if r.count != 0 or r.kind == "not-null-readd"]
    lines.append(style.MIGRATE_HEADING("Data at risk:"))
    if risks:
        lines += ["  " + risk.describe() for risk in risks]
    else:
        lines.append("  none (every table and column to drop is empty)")
    lines.append(style.MIGRATE_HEADING("Strategy: ") + strategy.describe())
    if strategy.backup is not None:
        lines.append(
            f"  backup {strategy.backup.id} taken {strategy.backup.created_at} "
            f"holds the state to go back to"
        )
    return lines


def _risk_line(risk: Any, style: Any) -> str:
    """A risk under its operation, in the words of the "Data at risk" summary."""
    if risk.count == 0 and risk.kind != "not-null-readd":
        return f"nothing at risk: {risk.describe()}"
    return str(style.WARNING("at risk: " + risk.describe()))


def _phases(preview: Any) -> dict[tuple[str, str], str]:
    """The deploy phase of each migration of the preview (README: Phases)."""
    from migration_guard.run.phases import phases_of

    return phases_of(preview.plan.loader, [m.key for m in preview.migrations])


def preview_document(preview: Any, strategy: Any, run: Any) -> dict[str, Any]:
    phase_of = _phases(preview)
    return {
        "database": preview.plan.executor.connection.alias,
        "targets": [
            {"app": app, "name": name} for app, name in preview.plan.resolution.targets
        ],
        "run_id": run.pk if run is not None else None,
        "migrations": [
            {**m.as_json(), "phase": phase_of.get(m.key)} for m in preview.migrations
        ],
        "irreversible": [m.label for m in preview.irreversible],
        "data_at_risk": [r.as_json() for r in preview.risks],
        "strategy": {
            "name": strategy.name,
            "backup": strategy.backup.id if strategy.backup is not None else None,
            "note": strategy.note,
        },
    }


def _edges(preview: Any) -> list[tuple[str, str]]:
    keys = {m.key for m in preview.migrations}
    graph = preview.plan.loader.graph
    edges = []
    for migration in preview.migrations:
        for parent in sorted(graph.node_map[migration.key].parents):
            if parent.key in keys:
                edges.append((f"{parent.key[0]}.{parent.key[1]}", migration.label))
    return edges


def preview_dot(preview: Any) -> str:
    """Graphviz: the migrations to unapply, edges from dependency to dependent."""
    lines = ["digraph rollback {", "  rankdir=LR;", "  node [shape=box];"]
    for migration in preview.migrations:
        color = " color=red fontcolor=red" if not migration.reversible else ""
        lines.append(f'  "{migration.label}" [label="{migration.label}"{color}];')
    lines += [f'  "{a}" -> "{b}";' for a, b in _edges(preview)]
    lines.append("}")
    return "\n".join(lines)


def preview_mermaid(preview: Any) -> str:
    ids = {m.label: f"m{i}" for i, m in enumerate(preview.migrations)}
    lines = ["graph LR"]
    for migration in preview.migrations:
        lines.append(f'  {ids[migration.label]}["{migration.label}"]')
    lines += [f"  {ids[a]} --> {ids[b]}" for a, b in _edges(preview)]
    irreversible = [ids[m.label] for m in preview.irreversible]
    if irreversible:
        lines.append("  classDef irreversible stroke:#d00,color:#d00")
        lines.append(f"  class {','.join(irreversible)} irreversible")
    return "\n".join(lines)


def rehearsal_lines(result: Rehearsal, style: Any) -> list[str]:
    """The closing lines of a rehearsal in text."""
    lines = []
    if result.revert_status == "irreversible":
        lines.append(style.WARNING(f"Revert: {result.revert_note}."))
    lines.append(
        style.MIGRATE_HEADING(f"Database '{result.alias}' unchanged: ")
        + ", ".join(result.untouched)
        + " as before."
    )
    slowest = sorted(result.executed, key=lambda e: e["seconds"], reverse=True)[:3]
    applied = sum(e["seconds"] for e in result.executed)
    reverted = sum(e["seconds"] for e in result.reverted)
    text = (
        f"{len(result.executed)} migration{'s' if len(result.executed) != 1 else ''}"
        f" in {applied:.2f}s"
    )
    if slowest:
        text += (
            " (slowest: "
            + ", ".join(f"{e['app']}.{e['name']} {e['seconds']:.3f}s" for e in slowest)
            + ")"
        )
    if result.reverted:
        text += f", reverted in {reverted:.2f}s"
    verdict = "OK" if result.ok else "FAILED"
    head = style.SUCCESS if result.ok else style.ERROR
    lines.append(
        head(f"Rehearsal {verdict}: ")
        + text
        + f"; copy dropped; {result.seconds:.2f}s in all."
    )
    return lines
