"""``makedatamigration``: generated migrations apply and reverse on real rows.

Every test works on copies of the migration packages of the testproject's
apps and of the ``dmapp`` test app (``tests/datamigration_app``), swapped in
with ``MIGRATION_MODULES`` from a temporary directory, so generated files
never land in the repository.
"""

from __future__ import annotations

import ast
import datetime
import importlib
import io
import json
import re
import shutil
import sys
import types
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps as global_apps
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.loader import MigrationLoader
from django.test.utils import CaptureQueriesContext

from migration_guard.backup.plan_scope import plan_scope
from migration_guard.exceptions import UsageError
from migration_guard.gates.lint import check_migrations, is_project_app, lint
from migration_guard.run.planning import TargetSpec, build_plan
from tests.conftest import ROOT, TESTPROJECT, Database
from tests.schema import logical_dump

SOURCES = {
    "accounts": TESTPROJECT / "accounts" / "migrations",
    "catalog": TESTPROJECT / "catalog" / "migrations",
    "orders": TESTPROJECT / "orders" / "migrations",
    "dmapp": ROOT / "tests" / "datamigration_app" / "migrations",
}
DMAPP = "tests.datamigration_app"
NOW = datetime.datetime(2026, 1, 2, 3, 4, 5, 123456, tzinfo=datetime.UTC)


def run(command: str, *args: str, **options: Any) -> str:
    out = io.StringIO()
    call_command(command, *args, stdout=out, no_color=True, **options)
    return out.getvalue()


@dataclass
class Project:
    """Copies of the migration packages, importable as ``<package>.<app>``."""

    root: Path
    package: str
    created: list[str] = field(default_factory=list)

    def directory(self, app: str) -> Path:
        return self.root / self.package / app

    def names(self, app: str) -> list[str]:
        return sorted(p.stem for p in self.directory(app).glob("0*.py"))

    def leaf(self, app: str) -> str:
        return self.names(app)[-1]

    def listing(self) -> dict[str, list[str]]:
        return {app: self.names(app) for app in SOURCES}

    def module(self, app: str, name: str) -> types.ModuleType:
        importlib.invalidate_caches()
        return importlib.import_module(f"{self.package}.{app}.{name}")

    def path(self, app: str, name: str) -> Path:
        return self.directory(app) / f"{name}.py"


@pytest.fixture
def project(settings: Any, tmp_path: Path) -> Iterator[Project]:
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, DMAPP]
    package = f"dm_{uuid.uuid4().hex[:12]}"
    root = tmp_path / "packages"
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").touch()
    for app, source in SOURCES.items():
        shutil.copytree(
            source, root / package / app, ignore=shutil.ignore_patterns("__pycache__")
        )
    sys.path.insert(0, str(root))
    settings.MIGRATION_MODULES = {app: f"{package}.{app}" for app in SOURCES}
    importlib.invalidate_caches()
    try:
        yield Project(root, package)
    finally:
        sys.path.remove(str(root))
        for name in [m for m in sys.modules if m.split(".")[0] == package]:
            del sys.modules[name]


# ---------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------


def models() -> types.SimpleNamespace:
    get = global_apps.get_model
    return types.SimpleNamespace(
        User=get("auth", "User"),
        UserProfile=get("accounts", "UserProfile"),
        Category=get("catalog", "Category"),
        Product=get("catalog", "Product"),
        Tag=get("catalog", "Tag"),
        Order=get("orders", "Order"),
        OrderLine=get("orders", "OrderLine"),
        Person=get("dmapp", "Person"),
        FormerPerson=get("dmapp", "FormerPerson"),
    )


def populate() -> None:
    """A few rows in every table the templates touch."""
    m = models()
    profiles = []
    for i in range(7):
        user = m.User.objects.create(username=f"user{i}", email=f"u{i}@example.com")
        url = f"https://img.example.com/{i}.png" if i % 3 != 1 else ""
        profiles.append(
            m.UserProfile.objects.create(
                user=user, display_name=f"User {i}", profile_picture_url=url
            )
        )
    tools = m.Category.objects.create(name="Tools", slug="tools")
    products = [
        m.Product.objects.create(
            category=tools, sku=f"SKU{i}", name=f"Hammer {i}", price=Decimal("9.99") * i
        )
        for i in range(1, 4)
    ]
    tag = m.Tag.objects.create(name="gift")
    currencies = ["eur", "usd", "gbp", "eur", "usd"]
    for i, currency in enumerate(currencies):
        order = m.Order.objects.create(
            customer=profiles[i],
            number=f"N{i:04d}",
            currency=currency,
            placed_at=NOW + datetime.timedelta(days=i),
        )
        order.tags.add(tag)
        for j, product in enumerate(products):
            m.OrderLine.objects.create(
                order=order,
                product=product,
                quantity=(i + j) % 3,
                unit_price=Decimal("1.05") * (j + 1),
            )
    people = [
        ("Ada Lovelace", "active", None),
        ("Plato", "left", "pl"),
        ("", "active", "nobody"),
        ("Jean Paul Sartre", "left", None),
        ("Grace Hopper", "active", "amazing"),
        ("Alan Turing", "left", ""),
    ]
    for full_name, status, nickname in people:
        m.Person.objects.create(
            full_name=full_name,
            status=status,
            nickname=nickname,
            score=Decimal("12.34"),
            joined=NOW,
        )


def populate_names() -> None:
    """People with first and last names but no full name (for merge_fields)."""
    m = models()
    m.Person.objects.all().delete()
    for first, last in [
        ("Ada", "Lovelace"),
        ("Plato", ""),
        ("", ""),
        ("Alan", "Turing"),
    ]:
        m.Person.objects.create(first_name=first, last_name=last, joined=NOW)


def fill_custom(path: Path) -> None:
    """What a developer does with the custom template: fill in both functions."""
    text = path.read_text()
    filled = text.replace(
        "    # TODO: fill in, e.g. obj.field = ...; return True\n"
        '    raise NotImplementedError(f"Fill in forwards_row() in {__name__}.")',
        "    new = bool(obj.profile_picture_url)\n"
        "    changed = obj.has_profile_picture != new\n"
        "    obj.has_profile_picture = new\n"
        "    return changed",
    ).replace(
        "    # TODO: fill in\n"
        '    raise NotImplementedError(f"Fill in backwards_row() in {__name__}.")',
        "    changed = obj.has_profile_picture\n"
        "    obj.has_profile_picture = False\n"
        "    return changed",
    )
    assert filled.count("NotImplementedError") == 0
    path.write_text(filled)


# ---------------------------------------------------------------------------
# Every template: generate, check, apply, compare, reverse, compare
# ---------------------------------------------------------------------------


def profile_flags() -> list[tuple[str, bool]]:
    rows = models().UserProfile.objects.order_by("pk")
    return list(rows.values_list("profile_picture_url", "has_profile_picture"))


def people(*fields: str) -> list[tuple[Any, ...]]:
    return list(models().Person.objects.order_by("pk").values_list(*fields))


def check_backfill() -> None:
    flags = profile_flags()
    assert [flag for _, flag in flags] == [bool(url) for url, _ in flags]
    assert sum(flag for _, flag in flags) == 5


def check_copy_field() -> None:
    rows = people("full_name", "login")
    assert rows and all(login == full_name for full_name, login in rows)
    assert ("Jean Paul Sartre", "Jean Paul Sartre") in rows


def check_map_values() -> None:
    rows = models().Order.objects.order_by("number").values_list("currency", flat=True)
    assert list(rows) == ["EUR", "USD", "gbp", "EUR", "USD"]


def check_split_field() -> None:
    assert people("full_name", "first_name", "last_name") == [
        ("Ada Lovelace", "Ada", "Lovelace"),
        ("Plato", "Plato", ""),
        ("", "", ""),
        ("Jean Paul Sartre", "Jean", "Paul Sartre"),
        ("Grace Hopper", "Grace", "Hopper"),
        ("Alan Turing", "Alan", "Turing"),
    ]


def check_merge_fields() -> None:
    assert people("full_name") == [
        ("Ada Lovelace",),
        ("Plato ",),
        (" ",),
        ("Alan Turing",),
    ]


def check_move_rows() -> None:
    m = models()
    assert sorted(m.Person.objects.values_list("status", flat=True)) == ["active"] * 3
    moved = m.FormerPerson.objects.order_by("pk")
    assert list(
        moved.values_list("full_name", "status", "nickname", "score", "joined")
    ) == [
        ("Plato", "left", "pl", Decimal("12.34"), NOW),
        ("Jean Paul Sartre", "left", None, Decimal("12.34"), NOW),
        ("Alan Turing", "left", "", Decimal("12.34"), NOW),
    ]
    # the primary keys came along, and the sequence moved past them
    assert set(moved.values_list("pk", flat=True)).isdisjoint(
        m.Person.objects.values_list("pk", flat=True)
    )
    extra = m.FormerPerson.objects.create(full_name="New")
    assert extra.pk > max(moved.exclude(pk=extra.pk).values_list("pk", flat=True))
    extra.delete()


def check_seed_rows() -> None:
    rows = models().Category.objects.order_by("slug").values_list("slug", "name")
    assert list(rows) == [
        ("books", "Books"),
        ("games", "Games"),
        ("tools", "Tools"),
        ("uncategorized", "Uncategorized"),
    ]


def check_archive_and_delete() -> None:
    m = models()
    assert not m.OrderLine.objects.filter(quantity=0).exists()
    assert m.OrderLine.objects.count() == 10
    with connection.cursor() as cursor:
        cursor.execute("SELECT object_pk, data FROM orders_orderline_archive_0004")
        archived = cursor.fetchall()
    assert len(archived) == 5
    for object_pk, data in archived:
        record = json.loads(data) if isinstance(data, str) else data
        assert record["id"] == int(object_pk)
        assert record["quantity"] == 0
        assert set(record) == {"id", "order_id", "product_id", "quantity", "unit_price"}
        assert Decimal(record["unit_price"]) in {
            Decimal("1.05"),
            Decimal("2.10"),
            Decimal("3.15"),
        }


@dataclass(frozen=True)
class Case:
    app: str
    options: dict[str, str]
    check: Callable[[], None]
    files: int = 1
    setup: Callable[[], None] | None = None
    edit: Callable[[Path], None] | None = None


CASES = {
    "backfill": Case(
        "accounts",
        {
            "model": "UserProfile",
            "field": "has_profile_picture",
            "expression": "bool(profile_picture_url)",
        },
        check_backfill,
    ),
    "copy_field": Case(
        "dmapp",
        {"model": "Person", "source": "full_name", "field": "login"},
        check_copy_field,
    ),
    "map_values": Case(
        "orders",
        {
            "model": "Order",
            "field": "currency",
            "mapping": '{"eur": "EUR", "usd": "USD"}',
        },
        check_map_values,
    ),
    "split_field": Case(
        "dmapp",
        {"model": "Person", "source": "full_name", "into": "first_name,last_name"},
        check_split_field,
    ),
    "merge_fields": Case(
        "dmapp",
        {"model": "Person", "source": "first_name,last_name", "field": "full_name"},
        check_merge_fields,
        setup=populate_names,
    ),
    "move_rows": Case(
        "dmapp",
        {"model": "Person", "to_model": "FormerPerson", "filter": "status == 'left'"},
        check_move_rows,
    ),
    "seed_rows": Case(
        "catalog",
        {
            "model": "Category",
            "natural_key": "slug",
            "rows": '[{"slug": "books", "name": "Books"}, '
            '{"slug": "games", "name": "Games"}]',
        },
        check_seed_rows,
    ),
    "archive_and_delete": Case(
        "orders",
        {"model": "OrderLine", "filter": "quantity == 0"},
        check_archive_and_delete,
        files=2,
    ),
    "custom": Case(
        "accounts",
        {
            "model": "UserProfile",
            "fields": "has_profile_picture",
            "read": "profile_picture_url",
        },
        check_backfill,
        edit=fill_custom,
    ),
}


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize("template", list(CASES))
def test_template_applies_and_reverses_on_real_rows(
    project: Project, database: Database, template: str
) -> None:
    case = CASES[template]
    run("migrate", verbosity=0)
    populate()
    if case.setup:
        case.setup()
    before = logical_dump(connection)
    previous = project.leaf(case.app)

    out = run(
        "makedatamigration", case.app, template=template, batch_size=2, **case.options
    )

    new = [name for name in project.names(case.app) if name > previous]
    assert len(new) == case.files
    assert out.splitlines()[0] == f"Migrations for '{case.app}':"
    for name in new:
        path = project.path(case.app, name)
        assert f"{name}.py" in out
        assert not any(m.startswith("migration_guard") for m in imported_modules(path))
    data_path = project.path(case.app, new[-1])
    if case.edit:
        case.edit(data_path)
    module = project.module(case.app, new[-1])
    assert module.Migration.dependencies[0] == (
        case.app,
        new[-2] if case.files == 2 else previous,
    )
    operation = module.Migration.operations[0]
    assert (operation.code, operation.reverse_code) == (
        module.forwards,
        module.backwards,
    )
    assert getattr(module.Migration, "atomic", True) is True
    assert run("makemigrations", case.app, check=True, dry_run=True) == (
        f"No changes detected in app '{case.app}'\n"
    )
    assert lint(MigrationLoader(None, ignore_no_migrations=True), [case.app]) == []
    assert module.Migration.migration_guard_writes  # declared, for scoped backups
    scope = plan_scope(build_plan("default", TargetSpec(case.app, None)), connection)
    assert not scope.full, scope.unbounded

    run("migrate", case.app, verbosity=0)
    assert database.migration_rows()[-len(new) :] == [(case.app, n) for n in new]
    case.check()
    after = logical_dump(connection)
    assert after != before
    changed = {
        table
        for table in set(after["rows"]) | set(before["rows"])
        if after["rows"].get(table) != before["rows"].get(table)
    }
    assert changed <= scope.tables  # a scoped backup would hold every change

    run("migrate", case.app, previous, verbosity=0)
    assert logical_dump(connection) == before


def test_queries_scale_with_batches_not_rows(
    project: Project, database: Database
) -> None:
    run("migrate", verbosity=0)
    m = models()
    rows = 100_000
    m.User.objects.bulk_create(
        [m.User(username=f"u{i}", password="!") for i in range(rows)], batch_size=5000
    )
    users = m.User.objects.order_by("pk").values_list("pk", flat=True)
    m.UserProfile.objects.bulk_create(
        [
            m.UserProfile(
                user_id=pk,
                display_name=f"User {i}",
                profile_picture_url="" if i % 4 else f"https://img/{i}",
                created_at=NOW,
            )
            for i, pk in enumerate(users.iterator())
        ],
        batch_size=5000,
    )
    counts = {}
    backfill = {
        "template": "backfill",
        "model": "UserProfile",
        "field": "has_profile_picture",
        "expression": "bool(profile_picture_url)",
    }
    custom = {
        "template": "custom",
        "model": "UserProfile",
        "fields": "has_profile_picture",
        "read": "profile_picture_url",
    }
    for label, options, batch_size in (
        ("backfill", backfill, 1000),
        ("backfill", backfill, 5000),
        ("custom", custom, 1000),
    ):
        run(
            "makedatamigration",
            "accounts",
            f"{label}_{batch_size}",
            batch_size=batch_size,
            **options,
        )
        name = project.leaf("accounts")
        if label == "custom":
            fill_custom(project.path("accounts", name))
        module = project.module("accounts", name)
        state = MigrationLoader(connection).project_state(
            ("accounts", name), at_end=False
        )
        editor = types.SimpleNamespace(connection=connection)
        for function in (module.forwards, module.backwards):
            with transaction.atomic(), CaptureQueriesContext(connection) as queries:
                function(state.apps, editor)
            counts[(label, batch_size, function.__name__)] = len(queries)
            flagged = m.UserProfile.objects.filter(has_profile_picture=True).count()
            assert flagged == (rows // 4 if function.__name__ == "forwards" else 0)
    assert counts == {
        # the first key, then per batch: where the range ends, and the UPDATE
        ("backfill", 1000, "forwards"): 1 + 2 * 100,
        ("backfill", 1000, "backwards"): 1 + 2 * 100,
        ("backfill", 5000, "forwards"): 1 + 2 * 20,
        ("backfill", 5000, "backwards"): 1 + 2 * 20,
        # per batch: the SELECT ... FOR UPDATE, one UPDATE ... WHERE pk IN for
        # the rows that changed (they all get the same value); the last SELECT
        # finds no more rows
        ("custom", 1000, "forwards"): 2 * 100 + 1,
        ("custom", 1000, "backwards"): 2 * 100 + 1,
    }


def test_progress_per_batch_at_verbosity_2(
    project: Project, database: Database
) -> None:
    run("migrate", verbosity=0)
    populate()
    run(
        "makedatamigration",
        "accounts",
        "flags",
        template="backfill",
        model="UserProfile",
        field="has_profile_picture",
        expression="bool(profile_picture_url)",
        batch_size=3,
    )
    quiet = run("migrate", "accounts", verbosity=1)
    assert "batch" not in quiet
    run("migrate", "accounts", "0004", verbosity=0)
    out = run("migrate", "accounts", verbosity=2)
    lines = [line for line in out.splitlines() if "batch" in line]
    pattern = r"    forwards: batch (\d), (\d) of 7 rows, (\d) written, \d+\.\ds"
    assert [re.fullmatch(pattern, line).groups() for line in lines] == [  # type: ignore[union-attr]
        ("1", "3", "3"),
        ("2", "6", "6"),
        ("3", "7", "7"),
    ]
    assert "  Applying accounts.0005_flags...\n    forwards: batch 1" in out


@pytest.mark.parametrize("non_atomic", [False, True])
def test_non_atomic_commits_each_batch(
    project: Project, database: Database, non_atomic: bool
) -> None:
    run("migrate", verbosity=0)
    populate()
    run(
        "makedatamigration",
        "dmapp",
        "logins",
        template="backfill",
        model="Person",
        field="login",
        expression="nickname",
        batch_size=1,
        non_atomic=non_atomic,
        elidable=True,
    )
    module = project.module("dmapp", "0002_logins")
    assert getattr(module.Migration, "atomic", True) is (not non_atomic)
    assert module.Migration.operations[0].elidable is True
    # rows 2 and 3 have nicknames, row 1 has none: login is NOT NULL
    m = models()
    m.Person.objects.filter(full_name="Ada Lovelace").update(nickname="ada")
    with pytest.raises(Exception) as caught:
        run("migrate", "dmapp", verbosity=0)
    chain = exception_chain(caught.value)
    assert any(isinstance(e, IntegrityError) for e in chain), chain
    if database.vendor == "sqlite":
        connections_reset()
    logins = people("login")
    if non_atomic:
        assert logins == [("ada",), ("pl",), ("nobody",), ("",), ("",), ("",)]
    else:
        assert logins == [("",)] * 6
    applied = database.migration_rows()
    assert ("dmapp", "0001_initial") in applied
    assert ("dmapp", "0002_logins") not in applied


def test_dry_run_prints_and_writes_nothing(project: Project) -> None:
    listing = project.listing()
    out = run(
        "makedatamigration",
        "accounts",
        "flags",
        template="backfill",
        model="UserProfile",
        field="has_profile_picture",
        expression="bool(profile_picture_url)",
        dry_run=True,
    )
    assert project.listing() == listing
    assert "Full migrations file '0005_flags.py':" in out
    assert (
        'return Case(When(~Q(profile_picture_url=""), then=Value(True)), '
        "default=Value(False))" in out
    )
    assert "def forwards(apps, schema_editor):" in out
    assert "def backwards(apps, schema_editor):" in out


def test_json_output(project: Project) -> None:
    out = run(
        "makedatamigration",
        "catalog",
        template="seed_rows",
        model="Category",
        natural_key="slug",
        rows='[{"slug": "books", "name": "Books"}]',
        format="json",
    )
    document = json.loads(out)
    path = str(project.path("catalog", "0004_seed_category"))
    assert document == {
        "template": "seed_rows",
        "written": True,
        "migrations": [
            {
                "app_label": "catalog",
                "name": "0004_seed_category",
                "path": path,
                "description": [
                    "+ Create 1 catalog.Category row keyed by slug",
                    "- Backwards: deletes those rows by their natural keys",
                ],
            }
        ],
    }


def test_list_templates(project: Project) -> None:
    out = run("makedatamigration", list_templates=True)
    headings = [line for line in out.splitlines() if line and not line.startswith(" ")]
    assert headings == [
        "backfill",
        "copy_field",
        "map_values",
        "split_field",
        "merge_fields",
        "move_rows",
        "seed_rows",
        "archive_and_delete",
        "custom",
        "Options of every template",
        "Expressions (--expression) and conditions (--filter)",
    ]
    assert (
        "  Options: --model MODEL --field FIELD --expression EXPR [--filter COND]"
        in out
    )
    document = json.loads(run("makedatamigration", list_templates=True, format="json"))
    assert [t["name"] for t in document["templates"]] == headings[:9]
    backfill = document["templates"][0]
    assert backfill["required"] == ["--model", "--field", "--expression"]
    assert backfill["optional"] == ["--filter"]
    assert "bool(profile_picture_url)" in backfill["example"]


# ---------------------------------------------------------------------------
# Bad input: a clear UsageError, no file written
# ---------------------------------------------------------------------------

BACKFILL = {
    "template": "backfill",
    "model": "UserProfile",
    "field": "has_profile_picture",
    "expression": "bool(profile_picture_url)",
}
PROFILE_FIELDS = (
    "id, display_name, profile_picture_url, created_at, user, has_profile_picture"
)


@pytest.mark.parametrize(
    ("app", "options", "message"),
    [
        (
            "accounts",
            {**BACKFILL, "template": "backfil"},
            "Unknown template 'backfil'. Templates: backfill, copy_field, map_values, "
            "split_field, merge_fields, move_rows, seed_rows, archive_and_delete, "
            "custom (--list-templates describes them).",
        ),
        (
            "acounts",
            BACKFILL,
            "No installed app with label 'acounts'. Installed apps: accounts, admin, "
            "auth, catalog, contenttypes, dmapp, messages, migration_guard, orders, "
            "scenario, sessions, sites, staticfiles.",
        ),
        (
            "scenario",
            {**BACKFILL, "model": "Widget"},
            "App 'scenario' has no migrations yet.",
        ),
        (
            "accounts",
            {**BACKFILL, "model": "Profile"},
            "--model 'Profile': app 'accounts' has no model 'Profile' in its migration "
            "state (at accounts.0004_remove_userprofile_nickname). Its models: "
            "UserProfile.",
        ),
        (
            "accounts",
            {**BACKFILL, "field": "nickname"},
            "--field 'nickname': Model accounts.UserProfile has no field 'nickname' in "
            "its migration state (at accounts.0004_remove_userprofile_nickname). Its "
            f"fields: {PROFILE_FIELDS}.",
        ),
        (
            "accounts",
            {**BACKFILL, "expression": "bool(nickname)"},
            "--expression 'bool(nickname)': accounts.UserProfile has no field "
            "'nickname' in its migration state. Its fields: created_at, display_name, "
            "has_profile_picture, id, profile_picture_url, user.",
        ),
        (
            "accounts",
            {**BACKFILL, "expression": "__import__('os').system('true')"},
            "--expression \"__import__('os').system('true')\": "
            "__import__('os').system('true') is not supported.",
        ),
        (
            "accounts",
            {**BACKFILL, "expression": "display_name"},
            "display_name is a text value, but accounts.UserProfile."
            "has_profile_picture is a BooleanField.",
        ),
        (
            "accounts",
            {**BACKFILL, "expression": "not has_profile_picture"},
            "The new value not has_profile_picture reads has_profile_picture, the "
            "field it writes",
        ),
        (
            "accounts",
            {**BACKFILL, "mapping": "{}"},
            "Template backfill does not take --mapping. Its options: --model MODEL "
            "--field FIELD --expression EXPR [--filter COND].",
        ),
        (
            "orders",
            {"template": "map_values", "model": "Order", "field": "currency"},
            "Template map_values needs --mapping.",
        ),
        (
            "orders",
            {
                "template": "map_values",
                "model": "Order",
                "field": "currency",
                "mapping": '{"eur": "EUR", "usd": "EUR"}',
            },
            "--mapping is not one-to-one: it maps several values to 'EUR', so the "
            "inverse mapping could not tell them apart.",
        ),
        (
            "orders",
            {
                "template": "map_values",
                "model": "Order",
                "field": "currency",
                "mapping": '{"eur": "EUR"',
            },
            "--mapping is not valid JSON: Expecting ',' delimiter: line 1 column 14 "
            "(char 13).",
        ),
        (
            "orders",
            {
                "template": "map_values",
                "model": "Order",
                "field": "currency",
                "mapping": '{"eur": "EURO"}',
            },
            "'EURO' is not a valid value of orders.Order.currency (CharField): Ensure "
            "this value has at most 3 characters (it has 4).",
        ),
        (
            "catalog",
            {
                "template": "seed_rows",
                "model": "Category",
                "natural_key": "name",
                "rows": '[{"slug": "books", "name": "Books"}]',
            },
            "--natural-key 'name' is not unique in the migration state of "
            "catalog.Category, so backwards could delete other rows with the same key. "
            "Unique there: id; slug.",
        ),
        (
            "accounts",
            {"template": "archive_and_delete", "model": "UserProfile"},
            "Rows of accounts.UserProfile are referenced by orders.Order.customer "
            "(ForeignKey): archive_and_delete deletes rows of UserProfile",
        ),
        (
            "dmapp",
            {
                "template": "move_rows",
                "model": "FormerPerson",
                "to_model": "Person",
            },
            "move_rows keeps every column of dmapp.FormerPerson: dmapp.Person has no "
            "field left_at.",
        ),
        (
            "dmapp",
            {
                "template": "split_field",
                "model": "Person",
                "source": "full_name",
                "into": "first_name,last_name",
                "filter": "first_name == ''",
            },
            "--filter \"first_name == ''\" uses first_name, which template split_field "
            "writes",
        ),
    ],
)
def test_bad_input_is_a_usage_error_and_writes_nothing(
    project: Project, app: str, options: dict[str, str], message: str
) -> None:
    listing = project.listing()
    with pytest.raises(UsageError) as caught:
        run("makedatamigration", app, "named", **options)
    assert caught.value.returncode == 1
    assert message in str(caught.value)
    assert project.listing() == listing


def test_bad_input_from_the_command_line(project: Project, tmp_path: Path) -> None:
    result = Database("sqlite", str(tmp_path / "unused.sqlite3")).manage(
        "makedatamigration", "accounts", "x", "--template", "backfill", "--model",
        "UserProfile", "--field", "has_profile_picture", "--expression", "1 +",
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.splitlines()[0].startswith(
        "UsageError: --expression '1 +': it is not valid syntax (invalid syntax)."
    )
    assert sorted(
        p.name for p in (TESTPROJECT / "accounts" / "migrations").glob("0*")
    ) == [
        "0001_initial.py",
        "0002_userprofile_has_profile_picture.py",
        "0003_set_has_profile_picture.py",
        "0004_remove_userprofile_nickname.py",
    ]


# ---------------------------------------------------------------------------
# Static checks
# ---------------------------------------------------------------------------


def test_lint_finds_missing_reverses_mixed_migrations_and_current_models(
    settings: Any,
) -> None:
    settings.INSTALLED_APPS = [*settings.INSTALLED_APPS, DMAPP]
    settings.MIGRATION_MODULES = {"dmapp": "tests.datamigration_lint"}
    loader = MigrationLoader(None, ignore_no_migrations=True)
    found = [
        (f.check_id, f.migration, f.operation_index, f.silenced)
        for f in lint(loader, ["dmapp", "orders", "accounts"], include_silenced=True)
    ]
    assert found == [
        ("migration_guard.W010", "dmapp.0002_no_reverse", 0, False),
        ("migration_guard.W010", "dmapp.0002_no_reverse", 1, False),
        ("migration_guard.W011", "dmapp.0003_data_and_schema", 1, False),
        ("migration_guard.W012", "dmapp.0005_current_model", 0, False),
        ("migration_guard.W012", "dmapp.0006_helpers", 0, False),
        ("migration_guard.W012", "dmapp.0006_helpers", 1, False),
        ("migration_guard.W010", "dmapp.0007_silenced", 0, True),
        ("migration_guard.W010", "orders.0002_uppercase_currency", 0, True),
    ]
    messages = {
        (f.migration, f.operation_index): f.message for f in lint(loader, ["dmapp"])
    }
    assert messages[("dmapp.0003_data_and_schema", 1)].startswith(
        "operations[1] RunPython(fill) changes data and operations[0] "
        "AddField(person.nickname) changes the schema in the same migration"
    )
    assert messages[("dmapp.0005_current_model", 0)].startswith(
        "operations[0] RunPython(forwards): forwards() uses the current model "
        "dmapp.Person instead of apps.get_model()"
    )
    assert messages[("dmapp.0006_helpers", 0)].startswith(
        "operations[0] RunPython(forwards): forwards() uses an import of "
        "tests.datamigration_app.models (in people()) instead of apps.get_model()"
    )
    assert messages[("dmapp.0006_helpers", 1)].startswith(
        "operations[1] RunPython(count_users): count_users() uses get_user_model() "
        "(the current user model)"
    )

    warnings = check_migrations(databases=["default"])
    assert [(w.id, w.obj, w.level) for w in warnings] == [
        ("migration_guard.W010", "dmapp.0002_no_reverse", 30),
        ("migration_guard.W010", "dmapp.0002_no_reverse", 30),
        ("migration_guard.W011", "dmapp.0003_data_and_schema", 30),
        ("migration_guard.W012", "dmapp.0005_current_model", 30),
        ("migration_guard.W012", "dmapp.0006_helpers", 30),
        ("migration_guard.W012", "dmapp.0006_helpers", 30),
    ]
    assert all(w.hint for w in warnings)
    settings.SILENCED_SYSTEM_CHECKS = ["migration_guard.W012"]
    assert [
        w.id for w in check_migrations(databases=["default"]) if not w.is_silenced()
    ] == [
        "migration_guard.W010",
        "migration_guard.W010",
        "migration_guard.W011",
    ]

    # it runs where migrations are checked against a database (migrate,
    # migration_guard, check --database), not before every runserver or shell
    assert check_migrations() == []


def test_system_check_covers_project_apps_only(tmp_path: Path) -> None:
    from django.apps import AppConfig

    assert is_project_app(global_apps.get_app_config("orders"))
    assert not is_project_app(global_apps.get_app_config("auth"))
    site_packages = Path(sysconfig_purelib()) / "someapp"
    module = types.ModuleType("someapp")
    module.__path__ = [str(site_packages)]
    assert not is_project_app(AppConfig("someapp", module))
    local = types.ModuleType("localapp")
    local.__path__ = [str(tmp_path / "localapp")]
    assert is_project_app(AppConfig("localapp", local))


def sysconfig_purelib() -> str:
    import sysconfig

    return sysconfig.get_paths()["purelib"]


def test_testproject_check_is_quiet(tmp_path: Path) -> None:
    """orders.0002 has no reverse, on purpose, and silences W010 for itself."""
    result = Database("sqlite", str(tmp_path / "db.sqlite3")).manage("check")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "System check identified no issues (0 silenced).\n"
    assert result.stderr == ""


# ---------------------------------------------------------------------------
# Refusals at run time, and the migration state rather than models.py
# ---------------------------------------------------------------------------


def clash_currency() -> None:
    models().Order.objects.filter(number="N0002").update(currency="EUR")


def clash_category() -> None:
    models().Category.objects.create(name="Old games", slug="games")


def clash_former_person() -> None:
    models().FormerPerson.objects.create(full_name="Socrates", status="left")


@pytest.mark.parametrize(
    ("template", "clash", "message"),
    [
        (
            "map_values",
            clash_currency,
            "orders.Order.currency: rows hold 'EUR', which the database compares "
            "equal to a value this mapping changes or produces",
        ),
        (
            "seed_rows",
            clash_category,
            "catalog.Category already has rows with the natural keys [('games',)]: "
            "backwards deletes the rows this migration created, so it does not take "
            "over existing ones.",
        ),
        (
            "move_rows",
            clash_former_person,
            "dmapp.FormerPerson already has rows that match: backwards moves back "
            "every matching row, so it would move those too.",
        ),
    ],
)
def test_refuses_rows_it_could_not_undo_exactly(
    project: Project, database: Database, template: str, clash: Callable[[], None],
    message: str,
) -> None:  # fmt: skip
    case = CASES[template]
    run("migrate", verbosity=0)
    populate()
    clash()
    previous = project.leaf(case.app)
    run("makedatamigration", case.app, template=template, batch_size=2, **case.options)
    before = logical_dump(connection)
    with pytest.raises(Exception) as caught:
        run("migrate", case.app, verbosity=0)
    chain = exception_chain(caught.value)
    assert any(isinstance(e, ValueError) and message in str(e) for e in chain), chain
    if database.vendor == "sqlite":
        connections_reset()
    assert logical_dump(connection) == before
    assert project.leaf(case.app) > previous


def exception_chain(error: BaseException | None) -> list[BaseException]:
    chain = []
    while error is not None:
        chain.append(error)
        error = error.__cause__ or error.__context__
    return chain


def connections_reset() -> None:
    """Leave the atomic block that SQLite's schema editor left open.

    After a failed atomic migration it raises from ``check_constraints()`` in
    ``__exit__`` before leaving the migration's atomic block; closing the
    connection rolls the transaction back.
    """
    from django.db import connections

    wrapper = connections["default"]
    wrapper.needs_rollback = False
    wrapper.in_atomic_block = False
    wrapper.savepoint_ids = []
    wrapper.close()


def test_names_are_checked_against_the_migration_state_not_models_py(
    project: Project,
) -> None:
    # the state before accounts.0002: nickname exists, has_profile_picture not yet
    for name in project.names("accounts")[1:]:
        project.path("accounts", name).unlink()
    with pytest.raises(UsageError) as caught:
        run("makedatamigration", "accounts", "flags", **BACKFILL)
    assert str(caught.value) == (
        "--field 'has_profile_picture': Model accounts.UserProfile has no field "
        "'has_profile_picture' in its migration state (at accounts.0001_initial). "
        "Its fields: id, display_name, profile_picture_url, nickname, created_at, "
        "user."
    )
    out = run(
        "makedatamigration",
        "accounts",
        "nicknames",
        template="backfill",
        model="UserProfile",
        field="nickname",
        expression="upper(display_name)",
        dry_run=True,
    )
    assert "accounts/0002_nicknames.py" in out
    assert 'return Upper(F("display_name"))' in out
