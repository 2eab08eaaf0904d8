"""Read-only admin pages: the ledger of runs and the backup catalogue.

Two entries appear under "migration_guard" in the admin index, both behind the
``migration_guard.view_migrationrun`` permission (superusers have it):

* **Migration runs**: the ledger (:class:`~migration_guard.models.MigrationRun`)
  of the database Django's router picks for it (``default`` without a
  router; the ledger of another alias lives in that database). A list with
  filters and a search by migration, and a detail page with the plan, what
  was executed with timings, the error and the backup taken.
* **Backups**: the catalogue read from the store
  (:func:`migration_guard.backup.storage.get_store`), never from a table: a
  restore rolls the database back, the manifests in the store are the truth.
  The list shows a cheap check (file present, size as in the manifest); the
  detail page runs the full ``verify`` only when asked by ``?verify=1``.

Nothing on either page writes: no add, change or delete permission for
anyone, no actions (not even delete-selected), no restore or prune. A POST to
add, change or delete a run, to either list or to a backup's page is refused
with 403.

How the backups get into the admin index: the index lists what is registered
on the site, and registering needs a model class. A proxy or unmanaged model
would need a migration of this app (a migration for a page) and would grow
content types and permissions nobody uses; views added by ``get_urls`` on the
runs' admin would not appear in the index at all. So :class:`Backup` is a
model class kept out of the global app registry (its ``Meta.apps`` is a
private, empty registry): migrations, content types and permissions never see
it, and it exists only so the site lists "Backups" next to "Migration runs".
Its admin replaces every URL with the two read-only views over the store and
asks for the same permission as the runs.

Nothing here runs a query or touches ``admin.site`` when
``django.contrib.admin`` is not installed. With a custom admin site, register
both: ``site.register(MigrationRun, MigrationRunAdmin)`` and
``site.register(Backup, BackupAdmin)``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import DatabaseError, models
from django.db.models import Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timezone import localtime

from migration_guard.backup import catalog
from migration_guard.backup.storage import (
    BackupStore,
    DjangoStorageStore,
    LocalStore,
    Manifest,
    UnsafeStore,
    get_store,
)
from migration_guard.compat.models import isolated_apps
from migration_guard.exceptions import MigrationGuardError
from migration_guard.management.render import duration_text, human_size
from migration_guard.models import MigrationRun

VIEW_PERMISSION = "migration_guard.view_migrationrun"


class Backup(models.Model):
    """What the admin site lists as "Backups"; the rows live in the store."""

    class Meta:
        apps = isolated_apps()  # keeps the class out of migrations
        app_label = "migration_guard"
        managed = False
        default_permissions = ()
        verbose_name = "backup"
        verbose_name_plural = "backups"


if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
else:
    _ModelAdmin = admin.ModelAdmin


class ReadOnlyAdmin(_ModelAdmin):
    """Viewing only, for everyone: the pages have no write control at all."""

    actions = None  # not even the site's delete-selected

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.has_perm(VIEW_PERMISSION)

    def has_add_permission(self, request: HttpRequest, *args: Any) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        if request.method == "POST":  # actions and list editing: none here
            raise PermissionDenied
        return super().changelist_view(request, extra_context)


# -- the runs ---------------------------------------------------------------


def _table(head: Sequence[str], rows: list[tuple[Any, ...]]) -> SafeString:
    if not rows:
        return format_html("<p>{}</p>", "(none)")
    header = format_html_join("", "<th>{}</th>", ((h,) for h in head))
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((c,) for c in row)),) for row in rows),
    )
    return format_html(
        '<table class="migration-guard-table"><thead><tr>{}</tr></thead>'
        "<tbody>{}</tbody></table>",
        header,
        body,
    )


def migration_term_filter(term: str) -> Q:
    """Runs whose plan names a migration matching ``term``.

    ``term`` is part of an app label or a migration name (``catalog``,
    ``0002``, ``price``), or ``app.name`` with the start of the name
    (``catalog.0002``). Matched as a regular expression over the JSON text of
    the plan (which lists everything a run executed), anchored on string
    values so that keys such as ``"name"`` never match: the same SQL works on
    SQLite, PostgreSQL and MariaDB/MySQL.
    """
    app, dot, name = term.partition(".")
    if dot:
        pattern = f'"app": "{_literal(app)}", "name": "{_literal(name)}'
    else:
        pattern = f'": "[^"]*{_literal(term)}'
    # (?i) rather than iregex: MariaDB's JSON columns have a binary collation
    return Q(plan__regex="(?i)" + pattern)


def _literal(text: str) -> str:
    """``text`` as a regular expression matching it literally.

    A backslash before a character that is not a letter or digit makes it
    literal in PostgreSQL's, MariaDB's (PCRE) and Python's syntax alike.
    """
    return "".join(c if c.isalnum() or c == "_" else "\\" + c for c in text)


class MigrationRunAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "started_at",
        "alias",
        "direction",
        "migrations",
        "duration_display",
        "outcome",
        "backup_id",
    )
    list_filter = ("outcome", "alias", "direction", "command", "started_at")
    search_fields = ("plan",)  # the box; the matching is get_search_results'
    search_help_text = (
        "A migration: part of its app or name, or app.name (catalog.0002)."
    )
    list_per_page = 50
    readonly_fields = (
        "summary",
        "plan_table",
        "executed_table",
        "error_text",
        "backup_link",
    )

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        for term in search_term.split():
            queryset = queryset.filter(migration_term_filter(term))
        return queryset, False

    def _other_fields(self) -> list[str]:
        """Fields of the model the detail page has no row for (added later)."""
        shown = {"plan", "executed", "error", "backup_id", "backup_note"}
        return [
            f.name
            for f in self.model._meta.concrete_fields
            if f.name not in shown
            and f.name not in SUMMARY_FIELDS
            and not f.primary_key
        ]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [*self.readonly_fields, *self._other_fields()]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        others = self._other_fields()
        sets: list[tuple[str | None, dict[str, Any]]] = [
            (None, {"fields": ["summary"]}),
            ("Plan", {"fields": ["plan_table"]}),
            ("Executed", {"fields": ["executed_table"]}),
            ("Error", {"fields": ["error_text"]}),
            ("Backup", {"fields": ["backup_link"]}),
        ]
        if others:
            sets.append(("More", {"fields": others}))
        return sets

    @admin.display(description="migrations")
    def migrations(self, run: MigrationRun) -> str:
        return str(len(run.executed or run.plan or []))

    @admin.display(description="duration")
    def duration_display(self, run: MigrationRun) -> str:
        return duration_text(run)

    @admin.display(description="run")
    def summary(self, run: MigrationRun) -> SafeString:
        rows = [(label, value(run)) for label, value in SUMMARY]
        return format_html(
            '<table class="migration-guard-table">{}</table>',
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", rows),
        )

    @admin.display(description="plan")
    def plan_table(self, run: MigrationRun) -> SafeString:
        rows = [
            (
                number,
                "unapply" if step.get("backwards") else "apply",
                f"{step.get('app')}.{step.get('name')}",
            )
            for number, step in enumerate(run.plan or [], 1)
        ]
        return _table(("#", "action", "migration"), rows)

    @admin.display(description="executed")
    def executed_table(self, run: MigrationRun) -> SafeString:
        rows = [
            (
                item.get("action", ""),
                f"{item.get('app')}.{item.get('name')}",
                "faked" if item.get("fake") else "",
                f"{float(item.get('seconds') or 0):.3f}s",
            )
            for item in run.executed or []
        ]
        table = _table(("action", "migration", "", "time"), rows)
        if not rows:
            return table
        total = sum(float(item.get("seconds") or 0) for item in run.executed)
        return format_html("{}<p>Total: {}</p>", table, f"{total:.3f}s")

    @admin.display(description="error")
    def error_text(self, run: MigrationRun) -> SafeString:
        if not run.error:
            return format_html("<p>{}</p>", "(none)")
        return format_html('<pre class="migration-guard-error">{}</pre>', run.error)

    @admin.display(description="backup")
    def backup_link(self, run: MigrationRun) -> SafeString:
        note = format_html("<p>{}</p>", run.backup_note) if run.backup_note else ""
        if not run.backup_id:
            return format_html("<p>{}</p>{}", "No backup taken.", note)
        if get_store().get(run.backup_id) is None:
            return format_html(
                "<p>{} (not in the catalogue: pruned or deleted)</p>{}",
                run.backup_id,
                note,
            )
        url = reverse(
            f"{self.admin_site.name}:migration_guard_backup_change",
            args=[run.backup_id],
        )
        return format_html('<p><a href="{}">{}</a></p>{}', url, run.backup_id, note)


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


def _when(value: Any) -> str:
    return localtime(value).strftime("%Y-%m-%d %H:%M:%S %Z") if value else "-"


SUMMARY: list[tuple[str, Callable[[MigrationRun], Any]]] = [
    ("id", lambda r: r.pk),
    ("command", lambda r: " ".join(str(a) for a in r.argv or []) or r.command),
    ("database", lambda r: f"{r.alias} ({r.vendor})"),
    ("user@host", lambda r: f"{r.user or '?'}@{r.host or '?'}"),
    ("started", lambda r: _when(r.started_at)),
    ("finished", lambda r: _when(r.finished_at)),
    ("duration", duration_text),
    ("direction", lambda r: r.get_direction_display()),
    ("faked", lambda r: "yes" if r.fake else "no"),
    ("outcome", lambda r: r.get_outcome_display()),
    ("applied before", lambda r: f"{len(r.applied_before or [])} migrations"),
    ("versions", lambda r: f"Django {r.django_version}, {r.migration_guard_version}"),
]
SUMMARY_FIELDS = _words(
    "alias vendor command user host argv direction fake outcome started_at "
    "finished_at applied_before django_version migration_guard_version"
)


# -- the backups ----------------------------------------------------------


@dataclass
class FileStatus:
    """The cheap check of a backup file: present, with the manifest's size."""

    ok: bool
    text: str


def file_status(store: BackupStore, manifest: Manifest) -> FileStatus:
    """Whether the file of ``manifest`` is there with its size (no read)."""
    try:
        size = _stored_size(store, manifest)
    except OSError as exc:
        return FileStatus(False, f"cannot be checked: {exc}")
    if size is None:
        return FileStatus(False, "file missing")
    if size != manifest.size:
        return FileStatus(
            False, f"size differs: {size} bytes, manifest says {manifest.size}"
        )
    return FileStatus(True, "file present, size matches")


def _stored_size(store: BackupStore, manifest: Manifest) -> int | None:
    if isinstance(store, LocalStore):
        try:
            return os.stat(store.directory / manifest.filename).st_size
        except FileNotFoundError:
            return None
    if isinstance(store, DjangoStorageStore):
        if not store.storage.exists(manifest.filename):
            return None
        return int(store.storage.size(manifest.filename))
    raise OSError(f"unknown store {type(store).__name__}")


def full_verify(store: BackupStore, manifest: Manifest) -> FileStatus:
    """``migrationbackups verify``: size, sha256 and format, reading it all."""
    try:
        catalog.verify_backup(manifest, store, full=True)
    except MigrationGuardError as exc:
        return FileStatus(False, str(exc))
    return FileStatus(
        True,
        f"Backup {manifest.id} verified: {human_size(manifest.size)}, sha256 "
        f"matches, complete {manifest.format} file.",
    )


class BackupAdmin(ReadOnlyAdmin):
    """The catalogue of the store, under the runs' view permission."""

    def get_urls(self) -> list[URLPattern]:
        view = self.admin_site.admin_view
        return [
            path("", view(self.list_view), name="migration_guard_backup_changelist"),
            path(
                "<str:backup_id>/",
                view(self.detail_view),
                name="migration_guard_backup_change",
            ),
        ]

    def _context(self, request: HttpRequest, title: str) -> dict[str, Any]:
        if request.method not in ("GET", "HEAD"):
            raise PermissionDenied  # nothing here takes a form
        if not self.has_view_permission(request):
            raise PermissionDenied
        return {
            **self.admin_site.each_context(request),
            "title": title,
            "opts": self.opts,
            "app_label": self.opts.app_label,
            # the class is not in the global registry: its opts.app_config is None
            "app_verbose_name": apps.get_app_config("migration_guard").verbose_name,
            "has_view_permission": True,
        }

    def _run_links(self, manifests: list[Manifest]) -> dict[str, str]:
        """The admin URL of each manifest's run that this ledger has."""
        ids = {m.run_id for m in manifests if m.run_id is not None}
        if not ids:
            return {}
        try:
            known = set(
                MigrationRun.objects.filter(pk__in=ids).values_list("pk", "alias")
            )
        except DatabaseError:  # no ledger table in this database
            return {}
        name = f"{self.admin_site.name}:migration_guard_migrationrun_change"
        return {
            m.id: reverse(name, args=[m.run_id])
            for m in manifests
            if (m.run_id, m.alias) in known
        }

    def list_view(self, request: HttpRequest) -> HttpResponse:
        context = self._context(request, "Backups")
        store = get_store()
        try:
            manifests = store.manifests()
        except UnsafeStore as exc:  # nothing is read from an open store
            messages.error(request, str(exc))
            manifests = []
        links = self._run_links(manifests)
        context["store"] = store.description
        context["backups"] = [
            {
                "manifest": m,
                "size": human_size(m.size),
                "status": file_status(store, m),
                "run_url": links.get(m.id),
            }
            for m in manifests
        ]
        return TemplateResponse(
            request, "admin/migration_guard/backup/list.html", context
        )

    def detail_view(self, request: HttpRequest, backup_id: str) -> HttpResponse:
        context = self._context(request, f"Backup {backup_id}")
        store = get_store()
        try:
            manifest = store.get(backup_id)
        except UnsafeStore as exc:
            raise Http404(str(exc)) from exc
        if manifest is None:
            raise Http404(f"No backup {backup_id!r} in {store.description}.")
        check = file_status(store, manifest)
        if request.GET.get("verify") and check.ok:
            context["verified"] = full_verify(store, manifest)
        context.update(
            manifest=manifest,
            status=check,
            location=store.location(manifest),
            size=human_size(manifest.size),
            run_url=self._run_links([manifest]).get(manifest.id),
            extra=_extra_fields(manifest),
            plan=[
                (
                    "unapply" if s.get("backwards") else "apply",
                    s.get("app"),
                    s.get("name"),
                )
                for s in manifest.plan
            ],
        )
        return TemplateResponse(
            request, "admin/migration_guard/backup/detail.html", context
        )


# what the detail page has a row for; other manifest fields get one each
_DETAILED = _words(
    "id alias vendor format filename database created_at size sha256 reason run_id "
    "plan applied_before pinned seconds server_version client_version "
    "migration_guard_version"
)


def _extra_fields(manifest: Manifest) -> list[tuple[str, str]]:
    """Manifest fields the detail page has no row for (added by later versions)."""
    return [
        (name, str(value))
        for name, value in manifest.as_json().items()
        if name not in _DETAILED
    ]


if apps.is_installed("django.contrib.admin"):
    admin.site.register(MigrationRun, MigrationRunAdmin)
    admin.site.register(Backup, BackupAdmin)
