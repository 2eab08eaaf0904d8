"""Generate a self-contained Django project with many realistic migrations.

    python bench/genproject.py OUTDIR --apps 10 --migrations 300 [--verify]

writes ``OUTDIR/manage.py``, ``OUTDIR/benchproject/settings.py`` and apps
``app00``.. whose migrations add up to ``--migrations``. The migrations are
written as text from a model of the schema kept here, and each app's
``models.py`` is rendered from the final state of that model, so
``makemigrations --check`` finds nothing to do (``--verify`` runs it).

Migration ``0001_initial`` of an app creates 2-3 models (the second one with a
foreign key to the first, some with a foreign key to a model of an earlier
app or to the user model). Later migrations mix AddField (nullable or with a
default), AlterField (``max_length``, ``help_text``), AddIndex, RenameField,
CreateModel, foreign keys to models of earlier apps (app03 depends on app01,
...) and, now and then, a data migration: a RunPython with a reverse that
does a set-based ``update()``.

Everything is deterministic for a given ``seed``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

MODEL_NOUNS: tuple[str, ...] = (
    "Product", "Category", "Supplier", "Warehouse", "Invoice", "Shipment",
    "Customer", "Order", "Payment", "Refund", "Coupon", "Review", "Author",
    "Publisher", "Article", "Comment", "Ticket", "Project", "Task", "Milestone",
    "Team", "Member", "Device", "Sensor", "Reading", "Vehicle", "Route",
    "Driver", "Booking", "Room", "Guest", "Course", "Lesson", "Student",
    "Teacher", "Grade", "Account", "Ledger", "Transfer", "Budget", "Campaign",
    "Lead", "Contract", "Asset", "License", "Policy", "Claim", "Patient",
    "Visit", "Prescription", "Recipe", "Ingredient", "Menu", "Album", "Track",
    "Playlist", "Event", "Venue", "Sponsor", "Badge", "Survey", "Question",
    "Answer", "Report", "Dataset", "Pipeline", "Release", "Feature", "Defect",
    "Carrier", "Parcel", "Voucher", "Subscription", "Plan", "Quote",
)  # fmt: skip

#: Field names by kind. None of them is the lower-case name of a model, so a
#: reverse query name never clashes with a field.
FIELD_NAMES: dict[str, tuple[str, ...]] = {
    "char": (
        "name", "title", "code", "label", "sku", "color", "status", "reference",
        "region", "currency", "kind", "source", "channel", "locale", "city",
        "country", "phone", "vendor_code", "batch_code", "headline", "nickname",
        "slug_text", "external_id", "tracking_code", "tier", "segment",
    ),
    "text": ("description", "notes", "summary", "body", "remarks", "details"),
    "int": (
        "quantity", "position", "priority", "rank", "score", "stock", "views",
        "attempts", "level", "capacity", "retries", "sequence",
    ),
    "bool": (
        "is_active", "is_public", "is_archived", "is_featured", "is_verified",
        "enabled", "visible", "locked",
    ),
    "decimal": ("price", "cost", "weight", "amount", "discount", "tax_rate"),
    "datetime": (
        "published_at", "archived_at", "synced_at", "expires_at", "last_seen_at",
    ),
    "date": ("due_date", "start_date", "end_date", "valid_until"),
    "email": ("contact_email", "billing_email"),
}  # fmt: skip

#: The lengths a CharField grows through (AlterField), up to 255 so that an
#: index on it stays within MySQL's utf8mb4 key length.
CHAR_LENGTHS: tuple[int, ...] = (20, 32, 50, 64, 100, 120, 150, 200, 255)

#: Field kinds weighted by how often they are picked.
FIELD_KIND_DICE: tuple[str, ...] = (
    "char", "char", "char", "text", "int", "int", "bool", "decimal",
    "datetime", "date", "email",
)  # fmt: skip

assert not {n.lower() for n in MODEL_NOUNS} & {
    name for names in FIELD_NAMES.values() for name in names
}


# ---------------------------------------------------------------------------
# The schema model
# ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FieldSpec:
    """One model field, rendered identically in migrations and models.py."""

    kind: str
    max_length: int | None = None
    null: bool = False
    blank: bool = False
    default: str | None = None  # Python source of the default
    help_text: str | None = None
    to: str | None = None  # "app01.product" or "settings.AUTH_USER_MODEL"
    on_delete: str | None = None
    auto_now_add: bool = False
    db_index: bool = False

    def render(self) -> str:
        kwargs: list[tuple[str, str]] = []
        if self.kind == "pk":
            return (
                "models.BigAutoField(auto_created=True, primary_key=True, "
                'serialize=False, verbose_name="ID")'
            )
        cls = {
            "char": "CharField",
            "text": "TextField",
            "int": "IntegerField",
            "bool": "BooleanField",
            "decimal": "DecimalField",
            "datetime": "DateTimeField",
            "date": "DateField",
            "email": "EmailField",
            "fk": "ForeignKey",
        }[self.kind]
        if self.auto_now_add:
            kwargs.append(("auto_now_add", "True"))
        if self.blank:
            kwargs.append(("blank", "True"))
        if self.db_index:
            kwargs.append(("db_index", "True"))
        if self.kind == "decimal":
            kwargs.append(("decimal_places", "2"))
        if self.default is not None:
            kwargs.append(("default", self.default))
        if self.help_text is not None:
            kwargs.append(("help_text", json.dumps(self.help_text)))
        if self.max_length is not None:
            kwargs.append(("max_length", str(self.max_length)))
        if self.kind == "decimal":
            kwargs.append(("max_digits", "10"))
        if self.null:
            kwargs.append(("null", "True"))
        if self.on_delete is not None:
            kwargs.append(("on_delete", f"django.db.models.deletion.{self.on_delete}"))
        if self.to is not None:
            to = self.to if self.to.startswith("settings.") else f'"{self.to}"'
            kwargs.append(("to", to))
        return f"models.{cls}({', '.join(f'{k}={v}' for k, v in kwargs)})"


@dataclass
class ModelState:
    name: str
    fields: dict[str, FieldSpec]
    ordering: list[str] = field(default_factory=list)
    indexes: list[tuple[str, list[str]]] = field(default_factory=list)
    #: Fields that must keep their name: indexed, ordered by, foreign keys.
    pinned: set[str] = field(default_factory=set)
    #: Models this one has a foreign key to ("app01.product").
    targets: set[str] = field(default_factory=set)

    @property
    def lower(self) -> str:
        return self.name.lower()

    def fields_of(self, *kinds: str) -> list[str]:
        return [n for n, f in self.fields.items() if f.kind in kinds]


@dataclass
class Migration:
    name: str
    dependencies: list[str]  # rendered Python items of the dependencies list
    operations: list[str]  # rendered operations
    functions: list[str] = field(default_factory=list)  # RunPython code
    initial: bool = False
    needs_settings: bool = False


@dataclass
class AppState:
    label: str
    index: int
    models: dict[str, ModelState] = field(default_factory=dict)
    migrations: list[Migration] = field(default_factory=list)

    def migration_at(self, number: int) -> str:
        """The name of migration ``number`` (1-based), clamped to what exists."""
        return self.migrations[max(1, min(number, len(self.migrations))) - 1].name


@dataclass
class GeneratedProject:
    path: Path
    apps: list[str]
    migrations: int
    models: int

    def describe(self) -> str:
        return (
            f"project {self.path}: {len(self.apps)} apps, "
            f"{self.migrations} migrations, {self.models} models"
        )


# ---------------------------------------------------------------------------
# Generation
# ---------------------------------------------------------------------------


class Generator:
    def __init__(
        self, apps: int, migrations: int, models_per_app: int | None, seed: int
    ) -> None:
        if apps < 1 or migrations < apps:
            raise ValueError("need at least one app and one migration per app")
        if models_per_app is not None and models_per_app < 1:
            raise ValueError("models_per_app must be at least 1")
        self.rng = random.Random(seed)
        self.app_count = apps
        self.total = migrations
        self.models_per_app = models_per_app
        self.apps: list[AppState] = []
        self.model_counter = 0
        #: How many models each app's 0001_initial created.
        self.initial_models: dict[str, int] = {}

    # -- helpers -----------------------------------------------------------

    def new_model_name(self) -> str:
        noun = MODEL_NOUNS[self.model_counter % len(MODEL_NOUNS)]
        lap = self.model_counter // len(MODEL_NOUNS)
        self.model_counter += 1
        return noun if lap == 0 else f"{noun}{lap + 1}"

    def free_name(self, model: ModelState, kind: str) -> str:
        names = [n for n in FIELD_NAMES[kind] if n not in model.fields]
        if names:
            return self.rng.choice(names)
        base = self.rng.choice(FIELD_NAMES[kind])
        n = 2
        while f"{base}_{n}" in model.fields:
            n += 1
        return f"{base}_{n}"

    def random_field(self, *, for_add: bool) -> FieldSpec:
        """A field; with ``for_add`` one that can be added to a filled table."""
        kind = self.rng.choice(FIELD_KIND_DICE)
        nullable = self.rng.random() < 0.5
        if kind == "char":
            length = self.rng.choice([20, 32, 50, 64, 100, 120, 200])
            if for_add and nullable:
                return FieldSpec("char", max_length=length, null=True, blank=True)
            if for_add or self.rng.random() < 0.3:
                return FieldSpec("char", max_length=length, blank=True, default='""')
            return FieldSpec("char", max_length=length)
        if kind == "text":
            return FieldSpec("text", blank=True, default='""')
        if kind == "int":
            if for_add and nullable:
                return FieldSpec("int", null=True, blank=True)
            return FieldSpec("int", default=str(self.rng.choice([0, 0, 1, 10])))
        if kind == "bool":
            return FieldSpec("bool", default=self.rng.choice(["False", "True"]))
        if kind == "decimal":
            if for_add and nullable:
                return FieldSpec("decimal", null=True, blank=True)
            return FieldSpec("decimal", default="0")
        if kind == "email":
            return FieldSpec("email", max_length=254, blank=True, default='""')
        return FieldSpec(kind, null=True, blank=True)  # datetime, date

    # -- operations ----------------------------------------------------------

    def create_model(
        self, app: AppState, migration_no: int, deps: set[str], initial: bool
    ) -> tuple[list[str], str, bool]:
        """Add a model to ``app``; return operations, a name fragment, settings."""
        name = self.new_model_name()
        model = ModelState(name, {"id": FieldSpec("pk")})
        title = "name" if self.rng.random() < 0.5 else "title"
        model.fields[title] = FieldSpec(
            "char", max_length=self.rng.choice([64, 100, 120, 200])
        )
        for _ in range(self.rng.randint(1, 4)):
            spec = self.random_field(for_add=False)
            model.fields[self.free_name(model, spec.kind)] = spec
        if self.rng.random() < 0.4:
            model.fields["created_at"] = FieldSpec("datetime", auto_now_add=True)
        needs_settings = False
        # A foreign key to an earlier model of this app (CASCADE, not null).
        if app.models and self.rng.random() < 0.8:
            earlier = list(app.models.values())
            target = earlier[-1] if initial else self.rng.choice(earlier)
            self.add_fk_field(model, app.label, target, null=False)
        # A foreign key to a model of an earlier app.
        if app.index >= 1 and (
            (initial and len(app.models) == 2) or self.rng.random() < 0.15
        ):
            dep = self.cross_app_fk(app, model, migration_no, null=True)
            if dep is not None:
                deps.add(dep)
        if self.rng.random() < 0.25:
            model.fields["owner"] = FieldSpec(
                "fk", null=True, blank=True, on_delete="SET_NULL",
                to="settings.AUTH_USER_MODEL",
            )  # fmt: skip
            model.pinned.add("owner")
            needs_settings = True
        if self.rng.random() < 0.5:
            order_by = title if self.rng.random() < 0.6 else "-id"
            model.ordering = [order_by]
            model.pinned.add(order_by.lstrip("-"))
        app.models[model.lower] = model
        fields = "\n".join(
            f'                ("{n}", {f.render()}),' for n, f in model.fields.items()
        )
        options = (
            f'            options={{"ordering": {json.dumps(model.ordering)}}},\n'
            if model.ordering
            else ""
        )
        op = (
            "        migrations.CreateModel(\n"
            f'            name="{model.name}",\n'
            "            fields=[\n"
            f"{fields}\n"
            "            ],\n"
            f"{options}"
            "        ),"
        )
        return [op], model.lower, needs_settings

    def add_fk_field(
        self, model: ModelState, app_label: str, target: ModelState, *, null: bool
    ) -> str:
        fk_name = target.lower
        if fk_name in model.fields:
            fk_name = f"{fk_name}_ref"
        model.fields[fk_name] = FieldSpec(
            "fk",
            null=null,
            blank=null,
            on_delete="SET_NULL" if null else "CASCADE",
            to=f"{app_label}.{target.lower}",
        )
        model.pinned.add(fk_name)
        model.targets.add(f"{app_label}.{target.lower}")
        return fk_name

    def cross_app_fk(
        self, app: AppState, model: ModelState, migration_no: int, *, null: bool
    ) -> str | None:
        """Add to ``model`` a foreign key to an earlier app; return the dependency.

        The target is a model created in that app's 0001 that ``model`` has no
        foreign key to yet (models are only ever pointed at by later models, so
        reverse accessors never clash). app N points at app N-2 (app01 at
        app00), or at any earlier app when ``model`` already points at all of
        those; None (nothing added) when it points at every candidate.
        """
        preferred = self.apps[app.index - 2 if app.index >= 2 else 0]
        for others in ([preferred], self.apps[: app.index]):
            candidates = [
                (other, m)
                for other in others
                for m in list(other.models.values())[: self.initial_count(other)]
                if f"{other.label}.{m.lower}" not in model.targets
            ]
            if candidates:
                other, target = self.rng.choice(candidates)
                self.add_fk_field(model, other.label, target, null=null)
                return f'("{other.label}", "{other.migration_at(migration_no)}")'
        return None

    def initial_count(self, app: AppState) -> int:
        return self.initial_models.get(app.label, 1)

    def op_add_field(self, app: AppState) -> tuple[str, str] | None:
        model = self.rng.choice(list(app.models.values()))
        spec = self.random_field(for_add=True)
        name = self.free_name(model, spec.kind)
        model.fields[name] = spec
        return self.render_add_field(model, name, spec), f"{model.lower}_{name}"

    @staticmethod
    def render_add_field(model: ModelState, name: str, spec: FieldSpec) -> str:
        return render_operation(
            "AddField", model_name=f'"{model.lower}"', name=f'"{name}"',
            field=spec.render(),
        )  # fmt: skip

    def op_alter_field(self, app: AppState) -> tuple[str, str] | None:
        candidates = [
            (m, n)
            for m in app.models.values()
            for n, f in m.fields.items()
            if f.kind in ("char", "int", "text", "bool", "decimal")
        ]
        if not candidates:
            return None
        model, name = self.rng.choice(candidates)
        spec = model.fields[name]
        longer = [n for n in CHAR_LENGTHS if n > (spec.max_length or 0)]
        if spec.kind == "char" and longer:
            new = replace(spec, max_length=longer[min(1, len(longer) - 1)])
        else:
            text = f"{name.replace('_', ' ').capitalize()}."
            if spec.help_text is not None:
                text = f"{spec.help_text} (updated)"
            new = replace(spec, help_text=text)
        model.fields[name] = new
        op = render_operation(
            "AlterField", model_name=f'"{model.lower}"', name=f'"{name}"',
            field=new.render(),
        )  # fmt: skip
        return op, f"alter_{model.lower}_{name}"

    def op_add_index(self, app: AppState) -> tuple[str, str] | None:
        candidates = [
            (m, n)
            for m in app.models.values()
            for n, f in m.fields.items()
            if f.kind in ("char", "int", "bool", "datetime", "date", "decimal")
            and not any(n in fields for _, fields in m.indexes)
            and not f.db_index
        ]
        if not candidates:
            return None
        model, name = self.rng.choice(candidates)
        fields = [name]
        others = [
            n
            for n, f in model.fields.items()
            if n != name and f.kind in ("datetime", "int", "bool")
        ]
        if others and self.rng.random() < 0.3:
            fields.append(("-" if self.rng.random() < 0.5 else "") + others[0])
        taken = {n for m in app.models.values() for n, _ in m.indexes}
        index_name = f"{app.label}_{model.lower[:8]}_{name[:8]}_idx"
        n = 2
        while index_name in taken:
            index_name = f"{app.label}_{model.lower[:8]}_{name[:6]}{n}_idx"
            n += 1
        model.indexes.append((index_name, fields))
        model.pinned.update(f.lstrip("-") for f in fields)
        op = render_operation(
            "AddIndex", model_name=f'"{model.lower}"',
            index=render_index(index_name, fields),
        )  # fmt: skip
        return op, f"{model.lower}_{index_name}"

    def op_rename_field(self, app: AppState) -> tuple[str, str] | None:
        candidates = [
            (m, n)
            for m in app.models.values()
            for n, f in m.fields.items()
            if n not in m.pinned and f.kind in FIELD_NAMES
        ]
        if not candidates:
            return None
        model, old = self.rng.choice(candidates)
        spec = model.fields[old]
        new = self.free_name(model, spec.kind)  # never ``old``: it is taken
        del model.fields[old]
        model.fields[new] = spec
        op = render_operation(
            "RenameField", model_name=f'"{model.lower}"', old_name=f'"{old}"',
            new_name=f'"{new}"',
        )  # fmt: skip
        return op, f"rename_{old}_{model.lower}_{new}"

    def op_add_fk(
        self, app: AppState, migration_no: int, deps: set[str]
    ) -> tuple[str, str] | None:
        """A nullable foreign key, to an earlier model of this or an earlier app."""
        models = list(app.models.values())
        if app.index >= 1 and self.rng.random() < 0.5:
            model = self.rng.choice(models)
            dep = self.cross_app_fk(app, model, migration_no, null=True)
            if dep is None:
                return None
            deps.add(dep)
        else:
            if len(models) < 2:
                return None
            later = self.rng.randrange(1, len(models))
            model = models[later]
            options = [
                t
                for t in models[:later]
                if f"{app.label}.{t.lower}" not in model.targets
            ]
            if not options:
                return None
            self.add_fk_field(model, app.label, self.rng.choice(options), null=True)
        name = list(model.fields)[-1]
        return (
            self.render_add_field(model, name, model.fields[name]),
            f"{model.lower}_{name}",
        )

    def data_migration(self, app: AppState) -> tuple[list[str], list[str], str] | None:
        candidates = [
            (m, n)
            for m in app.models.values()
            for n, f in m.fields.items()
            if (f.kind == "char" and f.default == '""')
            or (f.kind == "int" and f.default is not None)
        ]
        if not candidates:
            return None
        model, name = self.rng.choice(candidates)
        spec = model.fields[name]
        if spec.kind == "char":
            value = '"n/a"'
            forward = f'.filter({name}="").update({name}={value})'
            backward = f'.filter({name}={value}).update({name}="")'
            verb = "fill"
        else:
            forward = f'.update({name}=models.F("{name}") + 1)'
            backward = f'.update({name}=models.F("{name}") - 1)'
            verb = "bump"
        functions = []
        for fn, body in (("forwards", forward), ("backwards", backward)):
            functions.append(
                f"def {fn}(apps, schema_editor):\n"
                f'    {model.name} = apps.get_model("{app.label}", "{model.name}")\n'
                "    db_alias = schema_editor.connection.alias\n"
                f"    {model.name}.objects.using(db_alias){body}\n"
            )
        op = "        migrations.RunPython(forwards, backwards),"
        return functions, [op], f"{verb}_{model.lower}_{name}"

    # -- migrations ----------------------------------------------------------

    def generate(self) -> list[AppState]:
        per_app, extra = divmod(self.total, self.app_count)
        for index in range(self.app_count):
            app = AppState(f"app{index:02d}", index)
            self.apps.append(app)
            count = per_app + (1 if index < extra else 0)
            self.initial(app)
            for number in range(2, count + 1):
                self.later(app, number)
        return self.apps

    def initial(self, app: AppState) -> None:
        n_models = self.models_per_app or self.rng.randint(2, 3)
        operations: list[str] = []
        deps: set[str] = set()
        needs_settings = False
        for _ in range(n_models):
            ops, _, settings_dep = self.create_model(app, 1, deps, initial=True)
            operations += ops
            needs_settings |= settings_dep
        self.initial_models[app.label] = n_models
        if needs_settings:
            deps.add("migrations.swappable_dependency(settings.AUTH_USER_MODEL)")
        app.migrations.append(
            Migration(
                "0001_initial",
                sorted(deps),
                operations,
                initial=True,
                needs_settings=needs_settings,
            )
        )

    def later(self, app: AppState, number: int) -> None:
        previous = app.migrations[-1].name
        deps: set[str] = set()
        # Every app from app01 on gets a cross-app foreign key early in its
        # history (one of migrations 0002-0006), whatever the dice say.
        forced_fk = app.index >= 1 and number == max(2, app.index % 5 + 2)
        if not forced_fk and self.rng.random() < 0.08:
            data = self.data_migration(app)
            if data is not None:
                functions, data_ops, fragment = data
                app.migrations.append(
                    Migration(
                        f"{number:04d}_{fragment}"[:60],
                        [f'("{app.label}", "{previous}")'],
                        data_ops,
                        functions,
                    )
                )
                return
        operations: list[str] = []
        fragments: list[str] = []
        needs_settings = False
        wanted = self.rng.choice([1, 1, 1, 2, 2, 3])
        while len(operations) < wanted:
            kind = self.rng.choices(
                ["add", "alter", "index", "rename", "create", "fk"],
                weights=[34, 16, 13, 11, 8, 8],
            )[0]
            if forced_fk:
                kind, forced_fk = "fk", False
            result: tuple[str, str] | None
            if kind == "create":
                ops, fragment, settings_dep = self.create_model(
                    app, number, deps, initial=False
                )
                operations += ops
                fragments.append(fragment)
                needs_settings |= settings_dep
                continue
            if kind == "add":
                result = self.op_add_field(app)
            elif kind == "alter":
                result = self.op_alter_field(app)
            elif kind == "index":
                result = self.op_add_index(app)
            elif kind == "rename":
                result = self.op_rename_field(app)
            else:
                result = self.op_add_fk(app, number, deps)
            if result is not None:
                operations.append(result[0])
                fragments.append(result[1])
        if needs_settings:
            deps.add("migrations.swappable_dependency(settings.AUTH_USER_MODEL)")
        fragment = "_".join(fragments)
        if len(fragment) > 52:
            fragment = f"auto_{number:04d}"
        app.migrations.append(
            Migration(
                f"{number:04d}_{fragment}",
                [f'("{app.label}", "{previous}")', *sorted(deps)],
                operations,
                needs_settings=needs_settings,
            )
        )


# ---------------------------------------------------------------------------
# Rendering
# ---------------------------------------------------------------------------


def render_operation(operation: str, /, **arguments: str) -> str:
    """``migrations.OPERATION(...)`` in a migration's operations list, one keyword
    argument (its source text) a line."""
    lines = [f"        migrations.{operation}("]
    lines += [f"            {key}={value}," for key, value in arguments.items()]
    return "\n".join([*lines, "        ),"])


def render_index(name: str, fields: list[str]) -> str:
    return f'models.Index(fields={json.dumps(fields)}, name="{name}")'


HEADER = "# Generated by bench/genproject.py\n\n"


def render_migration(migration: Migration) -> str:
    imports = ["import django.db.models.deletion"]
    if migration.needs_settings:
        imports.append("from django.conf import settings")
    imports.append("from django.db import migrations, models")
    parts = [HEADER + "\n".join(imports) + "\n"]
    for function in migration.functions:
        parts.append("\n" + function)
    deps = "".join(f"        {d},\n" for d in migration.dependencies)
    ops = "\n".join(migration.operations)
    body = "\nclass Migration(migrations.Migration):\n"
    if migration.initial:
        body += "    initial = True\n\n"
    body += f"    dependencies = [\n{deps}    ]\n\n    operations = [\n{ops}\n    ]\n"
    parts.append(body)
    return "\n".join(parts)


def render_models(app: AppState) -> str:
    needs_settings = any(
        f.to == "settings.AUTH_USER_MODEL" for m in app.models.values()
        for f in m.fields.values()
    )  # fmt: skip
    lines = [HEADER.rstrip("\n"), "import django.db.models.deletion"]
    if needs_settings:
        lines.append("from django.conf import settings")
    lines.append("from django.db import models")
    for model in app.models.values():
        lines += ["", "", f"class {model.name}(models.Model):"]
        for name, spec in model.fields.items():
            if spec.kind != "pk":
                lines.append(f"    {name} = {spec.render()}")
        meta: list[str] = []
        if model.ordering:
            meta.append(f"        ordering = {json.dumps(model.ordering)}")
        if model.indexes:
            meta.append("        indexes = [")
            for index_name, fields in model.indexes:
                meta.append(f"            {render_index(index_name, fields)},")
            meta.append("        ]")
        if meta:
            lines += ["", "    class Meta:", *meta]
        label = next((n for n in ("name", "title") if n in model.fields), None)
        lines += ["", "    def __str__(self):"]
        lines.append(
            f"        return self.{label}" if label else "        return str(self.pk)"
        )
    return "\n".join(lines) + "\n"


SETTINGS = '''\
"""Settings of a generated migration_guard benchmark project.

DATABASE_URL: sqlite:////abs/path, postgres://user[:password]@host:port/name,
mysql://user[:password]@host:port/name (default: db.sqlite3 beside manage.py).
MIGRATION_GUARD_BACKUP, when set, becomes MIGRATION_GUARD["BACKUP"].
"""

import os
from pathlib import Path
from urllib.parse import unquote, urlsplit

BASE_DIR = Path(__file__).resolve().parent.parent
SECRET_KEY = "benchmark-only-not-secret"
DEBUG = False
ALLOWED_HOSTS: list[str] = []
USE_TZ = True
TIME_ZONE = "UTC"
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "migration_guard",
__APPS__
]

_ENGINES = {
    "sqlite": "django.db.backends.sqlite3",
    "postgres": "django.db.backends.postgresql",
    "postgresql": "django.db.backends.postgresql",
    "mysql": "django.db.backends.mysql",
    "mariadb": "django.db.backends.mysql",
}


def database_from_url(url: str) -> dict:
    scheme, sep, rest = url.partition("://")
    engine = _ENGINES.get(scheme.lower())
    if not sep or engine is None:
        raise ValueError(f"Unsupported DATABASE_URL: {url!r}")
    if engine.endswith("sqlite3"):
        if not rest.startswith("/"):
            raise ValueError(f"Use sqlite:////abs/path, not {url!r}")
        return {"ENGINE": engine, "NAME": unquote(rest[1:])}
    parts = urlsplit(url)
    config = {
        "ENGINE": engine,
        "NAME": unquote(parts.path.lstrip("/")),
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": parts.hostname or "",
        "PORT": str(parts.port or ""),
    }
    if engine.endswith("mysql"):
        config["OPTIONS"] = {"charset": "utf8mb4"}
    return config


DATABASES = {
    "default": database_from_url(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}")
    )
}

MIGRATION_GUARD: dict = {"BACKUP_DIR": BASE_DIR / "backups"}
if os.environ.get("MIGRATION_GUARD_BACKUP"):
    MIGRATION_GUARD["BACKUP"] = os.environ["MIGRATION_GUARD_BACKUP"]
'''

MANAGE = """\
#!/usr/bin/env python
import os
import sys

if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchproject.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)
"""

APPS_PY = """\
from django.apps import AppConfig


class {cls}(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "{label}"
"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def generate(
    outdir: str | os.PathLike[str],
    apps: int = 10,
    migrations: int = 300,
    models_per_app: int | None = None,
    seed: int = 0,
) -> GeneratedProject:
    """Write a Django project into ``outdir`` (replacing what the project owns).

    ``migrations`` is the total over the ``apps`` apps (the first apps get one
    more when it does not divide evenly); ``models_per_app`` is how many
    models each ``0001_initial`` creates (None: 2 or 3, by the dice).
    """
    states = Generator(apps, migrations, models_per_app, seed).generate()
    out = Path(outdir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    for owned in ["benchproject", *(p.name for p in out.glob("app[0-9]*"))]:
        shutil.rmtree(out / owned, ignore_errors=True)
    _write(out / "manage.py", MANAGE)
    (out / "manage.py").chmod(0o755)
    _write(out / "benchproject" / "__init__.py", "")
    app_lines = "\n".join(f'    "{app.label}",' for app in states)
    _write(
        out / "benchproject" / "settings.py", SETTINGS.replace("__APPS__", app_lines)
    )
    for app in states:
        base = out / app.label
        _write(base / "__init__.py", "")
        cls = f"App{app.index:02d}Config"
        _write(base / "apps.py", APPS_PY.format(cls=cls, label=app.label))
        _write(base / "models.py", render_models(app))
        _write(base / "migrations" / "__init__.py", "")
        for migration in app.migrations:
            source = render_migration(migration)
            _write(base / "migrations" / f"{migration.name}.py", source)
    return GeneratedProject(
        path=out,
        apps=[app.label for app in states],
        migrations=sum(len(app.migrations) for app in states),
        models=sum(len(app.models) for app in states),
    )


def verify(project: Path, extra_env: dict[str, str] | None = None) -> tuple[bool, str]:
    """Run ``check`` and ``makemigrations --check --dry-run`` on ``project``.

    Uses a throw-away SQLite database unless ``extra_env`` sets DATABASE_URL.
    Returns (ok, combined output).
    """
    with tempfile.TemporaryDirectory(prefix="smbench_verify_") as tmp:
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{Path(tmp) / 'verify.sqlite3'}",
            **(extra_env or {}),
        }
        output = []
        ok = True
        for args in (["check"], ["makemigrations", "--check", "--dry-run"]):
            proc = subprocess.run(
                [sys.executable, "manage.py", *args],
                cwd=project,
                env=env,
                capture_output=True,
                text=True,
                check=False,
            )
            output.append(f"$ manage.py {' '.join(args)} -> {proc.returncode}")
            output.append((proc.stdout + proc.stderr).strip())
            ok = ok and proc.returncode == 0
    return ok, "\n".join(output)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("outdir", type=Path)
    parser.add_argument("--apps", type=int, default=10)
    parser.add_argument("--migrations", type=int, default=300)
    parser.add_argument("--models-per-app", type=int, default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--verify",
        action="store_true",
        help="run 'check' and 'makemigrations --check' on the result",
    )
    args = parser.parse_args(argv)
    project = generate(
        args.outdir, args.apps, args.migrations, args.models_per_app, args.seed
    )
    print(
        f"Wrote {project.path}: {len(project.apps)} apps, "
        f"{project.migrations} migrations, {project.models} models."
    )
    if args.verify:
        ok, output = verify(project.path)
        for line in output.splitlines():
            print(f"  {line}")
        print("verify:", "OK" if ok else "FAILED")
        return 0 if ok else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
