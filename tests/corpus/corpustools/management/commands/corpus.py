"""``manage.py corpus WHAT``: what the corpus tests ask the project, as JSON.

Runs inside the corpus project (its settings, its apps), so the test suite's
own settings never see them. Each sub-command prints one JSON document:

* ``info``: every migration of the graph, the recorded ones, the tables;
* ``plans``: per app, the migrations ``rollbackplan APP zero`` lists and
  the ones ``MigrationExecutor.migration_plan`` would unapply;
* ``sql``: per app, the exit of ``rollbackplan APP zero --sql`` and the
  error of one that did not complete;
* ``refake APP...``: per app, the history after deleting its records and
  running ``reconcile APP --fake --force-fake --reason ...``, against the
  history before;
* ``renders``: ``ModelState.render`` calls during ``reconcile``, the
  ``MigrationLoader.project_state`` calls (graph replays) of ``reconcile``,
  ``rollbackplan sites zero --sql`` and ``checkmigrations`` of every app, and
  the walks of the history (``StateWalk``) of the last two;
* ``deltas``: the migrations whose effect the walk over stand-ins finds
  other than the walk over rendered models (Django's ``state.apps``);
* ``scope``: per app, the tables a backward plan to ``zero`` can change
  (migration_guard.backup.plan_scope), whether it is bounded, and the app's
  existing tables a bounded scope leaves out (there must be none);
* ``scoped APP...``: per app whose backward plan to ``zero`` has a bounded
  scope, ``guardedmigrate APP zero --backup-scope plan`` then a restore of
  the plan-scoped backup it took: the tables the file held, and every
  difference between the database before and after (there must be none);
* ``phases``: how many migrations of all apps are pre- and post-deploy,
  the mixed ones, and ``checkmigrations``' W013 and gate findings by id.
"""

from __future__ import annotations

import contextlib
import io
import json
import traceback
from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState


class Command(BaseCommand):
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "what",
            choices=[
                "info",
                "plans",
                "sql",
                "refake",
                "renders",
                "deltas",
                "phases",
                "scope",
                "scoped",
            ],
        )
        parser.add_argument("apps", nargs="*")

    def handle(self, *args: Any, **options: Any) -> None:
        what = options["what"]
        document = getattr(self, f"_{what}")(options["apps"])
        self.stdout.write(json.dumps(document, indent=1, sort_keys=True))

    def _phases(self, apps: list[str]) -> dict[str, Any]:
        from collections import Counter

        from migration_guard.gates import locks as gates
        from migration_guard.run import phases

        loader = MigrationLoader(None, ignore_no_migrations=True)
        labels = sorted(apps or loader.migrated_apps)
        counts: Counter[str] = Counter()
        for _, verdict in phases.classify_history(loader, labels):
            if isinstance(verdict, phases.MarkerError):
                counts["bad marker"] += 1
                continue
            counts[verdict.phase.value] += 1
            counts["mixed"] += verdict.mixed
        server = gates.server_of(connection)
        found = gates.gate(loader, labels, server, connection)
        return {
            "vendor": connection.vendor,
            "migrations": dict(counts),
            "mixed": sorted(f.migration for f in phases.mixed(loader, labels)),
            "gates": dict(Counter(f.check_id for f in found)),
            "gated_migrations": len({f.migration for f in found}),
        }

    def _scope(self, apps: list[str]) -> dict[str, Any]:
        from django.apps import apps as installed

        from migration_guard.backup.plan_scope import plan_scope
        from migration_guard.run.planning import TargetSpec, build_plan

        existing = set(connection.introspection.table_names())
        result = {}
        for app in apps or sorted(self._executor().loader.migrated_apps):
            scope = plan_scope(
                build_plan("default", TargetSpec(app, "zero")), connection
            )
            own = {
                table
                for model in installed.get_app_config(app).get_models(
                    include_auto_created=True
                )
                if (table := model._meta.db_table) in existing
                and not model._meta.proxy
                and model._meta.managed
            }
            result[app] = {
                "tables": len(scope.tables),
                "bounded": not scope.full,
                "left_out": [] if scope.full else sorted(own - scope.tables),
            }
        return result

    def _scoped(self, apps: list[str]) -> dict[str, Any]:
        from django.test import override_settings

        guard = {**settings.MIGRATION_GUARD, "BACKUP": "auto"}
        with override_settings(MIGRATION_GUARD=guard):
            return {app: _scoped_round_trip(app) for app in apps}

    @staticmethod
    def _executor() -> MigrationExecutor:
        return MigrationExecutor(connection)

    def _info(self, apps: list[str]) -> dict[str, Any]:
        loader = self._executor().loader
        graph = loader.graph
        return {
            "vendor": connection.vendor,
            "nodes": sorted(f"{a}.{n}" for a, n in graph.nodes),
            "apps": sorted(loader.migrated_apps),
            "recorded": sorted(f"{a}.{n}" for a, n in _rows()),
            "replacing": sorted(
                f"{a}.{n}" for (a, n), m in graph.nodes.items() if m.replaces
            ),
            "dependents": {
                app: sorted(
                    {
                        f"{child.key[0]}"
                        for (a, _), node in graph.node_map.items()
                        if a == app
                        for child in node.children
                        if child.key[0] != app
                    }
                )
                for app in sorted(loader.migrated_apps)
            },
            "tables": sorted(connection.introspection.table_names()),
        }

    def _plans(self, apps: list[str]) -> dict[str, Any]:
        result = {}
        for app in apps or sorted(self._executor().loader.migrated_apps):
            executor = self._executor()
            django_plan = [
                f"{m.app_label}.{m.name}"
                for m, backwards in executor.migration_plan([(app, None)])
                if backwards
            ]
            out = io.StringIO()
            try:
                call_command("rollbackplan", app, "zero", format="json", stdout=out)
            except CommandError as exc:  # exit 8: only a restore undoes it
                if exc.returncode != 8:
                    raise
            listed = [
                f"{m['app']}.{m['name']}"
                for m in json.loads(out.getvalue())["migrations"]
            ]
            result[app] = {"rollbackplan": listed, "django": django_plan}
        return result

    def _sql(self, apps: list[str]) -> dict[str, Any]:
        result = {}
        for app in apps or sorted(self._executor().loader.migrated_apps):
            out = io.StringIO()
            try:
                call_command("rollbackplan", app, "zero", sql=True, stdout=out)
                result[app] = {"exit": 0, "lines": out.getvalue().count("\n")}
            except CommandError as exc:
                result[app] = {"exit": exc.returncode, "error": str(exc)}
            except Exception as exc:  # a crash: what the test must not see
                result[app] = {
                    "exit": "crash",
                    "error": "".join(traceback.format_exception_only(exc)).strip(),
                }
        return result

    def _refake(self, apps: list[str]) -> dict[str, Any]:
        result = {}
        for app in apps:
            before = _rows()
            MigrationRecorder.Migration.objects.filter(app=app).delete()
            out = io.StringIO()
            try:
                call_command(
                    "reconcile",
                    app,
                    fake=True,
                    force_fake=True,  # code-only migrations cannot be verified
                    reason="corpus: the history deleted by the test",
                    stdout=out,
                    stderr=out,
                )
                error = None
            except Exception as exc:
                error = "".join(traceback.format_exception_only(exc)).strip()
            after = _rows()
            missing = sorted(f"{a}.{n}" for a, n in before - after)
            result[app] = {
                "error": error,
                "missing": missing,
                "extra": sorted(f"{a}.{n}" for a, n in after - before),
            }
            for name in missing:  # put the history back for the next app
                recorded_app, recorded_name = name.split(".", 1)
                MigrationRecorder(connection).record_applied(
                    recorded_app, recorded_name
                )
        return result

    def _deltas(self, apps: list[str]) -> dict[str, Any]:
        return _deltas_differing()

    def _renders(self, apps: list[str]) -> dict[str, Any]:
        calls = 0
        render = ModelState.render

        def counting(self: ModelState, apps: Any) -> Any:
            nonlocal calls
            calls += 1
            return render(self, apps)

        ModelState.render = counting  # type: ignore[method-assign]
        try:
            with _replays() as replays:
                out = io.StringIO()
                call_command("reconcile", *apps, format="json", stdout=out)
        finally:
            ModelState.render = render  # type: ignore[method-assign]
        document = json.loads(out.getvalue())
        return {
            "renders": calls,
            "migrations": len(document["migrations"]),
            **self._replays_of_previews(len(replays)),
        }

    def _replays_of_previews(self, reconcile: int) -> dict[str, dict[str, int]]:
        """``MigrationLoader.project_state`` calls (``replays``, with
        ``reconcile``'s) and walks of the history (``walks``,
        :class:`migration_guard.walk.StateWalk` iterations) of ``rollbackplan
        sites zero --sql`` and of ``checkmigrations`` over every app (their
        exits ignored: exit 8, irreversible, and exit 2, findings, are
        answers)."""
        labels = sorted(self._executor().loader.migrated_apps)
        runs = {
            "rollbackplan": ("rollbackplan", "sites", "zero", "--sql"),
            "checkmigrations": ("checkmigrations", *labels),
        }
        counted = {"replays": {"reconcile": reconcile}, "walks": {}}
        for name, args in runs.items():
            with (
                _replays() as replays,
                _walks() as walks,
                contextlib.suppress(CommandError),
            ):
                call_command(*args, stdout=io.StringIO(), stderr=io.StringIO())
            counted["replays"][name] = len(replays)
            counted["walks"][name] = len(walks)
        return counted


def _fingerprint_now() -> tuple[dict[str, str], dict[str, int]]:
    from migration_guard.backup import fingerprint

    schema = fingerprint.schema("default")
    return schema, fingerprint.live_rows("default", sorted(schema))


def _scoped_round_trip(app: str) -> dict[str, Any]:
    """``guardedmigrate APP zero --backup-scope plan``, then restore its backup."""
    from migration_guard.backup import fingerprint
    from migration_guard.backup.storage import get_store

    before = _fingerprint_now()
    out = io.StringIO()
    call_command(
        "guardedmigrate", app, "zero", backup_scope="plan", interactive=False,
        stdout=out, no_color=True,
    )  # fmt: skip
    manifest = get_store().manifests()[0]
    call_command(
        "migrationbackups", "restore", manifest.id, interactive=False,
        stdout=io.StringIO(),
    )  # fmt: skip
    return {
        "scope": manifest.scope,
        "held": manifest.scope_tables,
        "differences": fingerprint.differences(*before, *_fingerprint_now()),
        "output": out.getvalue()[-2000:],
    }


@contextlib.contextmanager
def _replays() -> Iterator[list[Any]]:
    """Each ``MigrationLoader.project_state`` call (wrapped, not replaced)."""
    calls: list[Any] = []
    project_state = MigrationLoader.project_state

    def counting(self: MigrationLoader, *args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return project_state(self, *args, **kwargs)

    MigrationLoader.project_state = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        MigrationLoader.project_state = project_state  # type: ignore[method-assign]


@contextlib.contextmanager
def _walks() -> Iterator[list[Any]]:
    """Each walk of the history: a ``StateWalk`` iterated (wrapped, not replaced)."""
    from migration_guard.walk import StateWalk

    calls: list[Any] = []
    iterate = StateWalk.__iter__

    def counting(self: StateWalk) -> Any:
        calls.append(self)
        return iterate(self)

    StateWalk.__iter__ = counting  # type: ignore[method-assign]
    try:
        yield calls
    finally:
        StateWalk.__iter__ = iterate  # type: ignore[method-assign]


def _rows() -> set[tuple[str, str]]:
    return set(MigrationRecorder(connection).migration_qs.values_list("app", "name"))


def _deltas_differing() -> dict[str, Any]:
    from migration_guard.reconcile.schema.expected import migration_deltas

    light = migration_deltas(MigrationLoader(connection), connection)
    rendered = migration_deltas(MigrationLoader(connection), connection, render=True)
    return {
        "migrations": len(light),
        "elements": sum(len(delta.changes) for delta in light.values()),
        "differing": sorted(
            f"{a}.{n}"
            for (a, n), delta in rendered.items()
            if light[(a, n)].changes != delta.changes
        ),
    }
