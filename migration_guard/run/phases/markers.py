"""Phase markers: ours, django-syzygy's ``stage`` and django-safemigrate's ``safe``.

The two packages are recognised by duck typing, never imported.
"""

from __future__ import annotations

from typing import Any

from migration_guard.run.phases.base import MARKER, PHASES, MarkerError, Phase

_SYZYGY = {"pre_deploy": Phase.PRE, "post_deployment": Phase.POST}
_SYZYGY["post_deploy"] = Phase.POST
_MIGRATION_GUARD = {
    "before_deploy": Phase.PRE,
    "always": Phase.PRE,
    "after_deploy": Phase.POST,
}


def plain_value(value: Any) -> Any:
    """An enum member's value, or the value itself."""
    return getattr(value, "value", value)


def syzygy_stage(holder: Any) -> Phase | None:
    """``holder.stage`` as django-syzygy writes it (``Stage.PRE_DEPLOY``...)."""
    value = getattr(holder, "stage", None)
    if value is None:
        return None
    phase = _SYZYGY.get(str(plain_value(value)).lower())
    if phase is None:
        raise MarkerError(
            f"stage = {value!r} is not a django-syzygy stage (pre_deploy, "
            "post_deployment)."
        )
    return phase


def migration_guard_safe(migration: Any) -> tuple[Phase, str] | None:
    """``migration.safe`` as django-safemigrate writes it, with its spelling.

    ``Safe.before_deploy()`` (5.x, an object whose ``when`` is an enum),
    ``Safe.before_deploy`` (2.x-4.x, an enum member; in 5.x the uncalled
    classmethod), ``True``/``False`` (1.x).
    """
    value = getattr(migration, "safe", None)
    if value is None:
        return None
    if isinstance(value, bool):
        name = "before_deploy" if value else "after_deploy"
    elif hasattr(value, "when"):
        name = str(plain_value(value.when))
    elif callable(value) and getattr(value, "__name__", "") in _MIGRATION_GUARD:
        name = value.__name__
    else:
        name = str(plain_value(value))
    phase = _MIGRATION_GUARD.get(name.lower())
    if phase is None:
        raise MarkerError(
            f"safe = {value!r} is not a django-safemigrate marking "
            "(Safe.before_deploy(), Safe.after_deploy(), Safe.always())."
        )
    return phase, f"safe = Safe.{name.lower()}() (django-safemigrate)"


def marker(migration: Any) -> tuple[Phase, str] | None:
    """The phase a migration is marked with, and how; None when unmarked."""
    label = f"{migration.app_label}.{migration.name}"
    try:
        value = getattr(migration, MARKER, None)
        if value is not None:
            try:
                phase = Phase(str(plain_value(value)).lower().replace("_", "-"))
            except ValueError:
                raise MarkerError(
                    f"{MARKER} = {value!r} is not a phase "
                    f"({', '.join(repr(p) for p in PHASES)})."
                ) from None
            return phase, f'{MARKER} = "{phase}"'
        stage = syzygy_stage(migration)
        if stage is not None:
            return (
                stage,
                f"stage = {plain_value(migration.stage)!r} (django-syzygy)",
            )
        return migration_guard_safe(migration)
    except MarkerError as exc:
        raise MarkerError(f"Migration {label}: {exc}") from None
