"""Rendering of command results: JSON documents and text tables."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

from safemigrate.models import MigrationRun


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
        "safemigrate_version": run.safemigrate_version,
    }


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"


def run_summary(run: MigrationRun) -> str:
    migrations = run.executed or run.plan
    count = len(migrations)
    duration = f"{run.duration:.2f}s" if run.duration is not None else "-"
    return (
        f"#{run.pk}  {_when(run.started_at)}  {run.user or '?'}@{run.host or '?'}  "
        f"{run.alias}  {run.direction}  {count} migration{'s' if count != 1 else ''}"
        f"  {duration}  {run.get_outcome_display()}"
    )


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
