"""The ledger: one row per ``guardedmigrate`` run (and per rollback or restore)."""

from __future__ import annotations

from django.db import models


class Outcome(models.TextChoices):
    RUNNING = "running", "running"
    SUCCESS = "success", "success"
    NOOP = "noop", "nothing to do"
    FAILED = "failed", "failed"
    RESTORED = "restored", "failed, restored"
    RESTORE_FAILED = "restore_failed", "failed, restore failed"
    INTERRUPTED = "interrupted", "interrupted"


class Direction(models.TextChoices):
    FORWARDS = "forwards", "forwards"
    BACKWARDS = "backwards", "backwards"
    NONE = "none", "none"


class MigrationRun(models.Model):
    """A run of a guardedmigrate command against one database alias.

    The row is written when the run starts (outcome ``running``) and updated
    when it ends, so a killed process leaves a visible trace.
    """

    alias = models.CharField(max_length=100)
    vendor = models.CharField(max_length=30)
    command = models.CharField(max_length=50, default="guardedmigrate")
    user = models.CharField(max_length=150, blank=True, default="")
    host = models.CharField(max_length=255, blank=True, default="")
    argv = models.JSONField(default=list)
    direction = models.CharField(
        max_length=10, choices=Direction.choices, default=Direction.NONE
    )
    fake = models.BooleanField(default=False)
    plan = models.JSONField(default=list)
    applied_before = models.JSONField(default=list)
    executed = models.JSONField(default=list)
    outcome = models.CharField(
        max_length=20, choices=Outcome.choices, default=Outcome.RUNNING
    )
    error = models.TextField(blank=True, default="")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    backup_id = models.CharField(max_length=100, blank=True, default="")
    backup_note = models.CharField(max_length=200, blank=True, default="")
    django_version = models.CharField(max_length=20, blank=True, default="")
    migration_guard_version = models.CharField(max_length=20, blank=True, default="")
    #: the process of the run (``pid``, ``token``: its start on this boot) and,
    #: for an interrupted run, what recovery needs (``needs_restore``,
    #: ``in_progress``, ``killed``: found dead) and how it was resolved
    #: (``resolved``); a run on several databases: ``group``, ``databases``
    runtime = models.JSONField(default=dict, blank=True)
    #: what identifies the run across restores (ids are reused when a restore
    #: brings back an older ledger)
    key = models.UUIDField(null=True, blank=True, editable=False, db_index=True)
    #: where the database's own log was just before the run, for a
    #: point-in-time recovery (migration_guard.backup.logpos)
    log_position = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(
                fields=["alias", "-started_at"], name="migration_guard_run_alias"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} on {self.alias}: {self.direction} {self.outcome}"

    @property
    def duration(self) -> float | None:
        if self.finished_at is None:
            return None
        return (self.finished_at - self.started_at).total_seconds()
