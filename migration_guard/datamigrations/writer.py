"""Data migration files, written the way ``makemigrations --empty`` writes them.

Numbering and dependencies come from Django's autodetector
(``arrange_for_graph`` over the loader's graph), the file text from
``MigrationWriter``; the template's module-level code is then put between
the imports and the ``Migration`` class, and the ``RunPython`` operation
points at its ``forwards``/``backwards``. Nothing is written until every
file of the change has been rendered and compiled.
"""

from __future__ import annotations

import ast
import os
import re
from dataclasses import dataclass, field
from typing import Any, cast

from django.db import migrations
from django.db.migrations.autodetector import MigrationAutodetector
from django.db.migrations.questioner import NonInteractiveMigrationQuestioner
from django.db.migrations.writer import MigrationWriter

from migration_guard.datamigrations import placeholders, snippets
from migration_guard.datamigrations.base import (
    MAX_BATCH_SIZE,
    DataMigration,
    Options,
    Template,
)
from migration_guard.datamigrations.language import literal
from migration_guard.datamigrations.state import MigrationState
from migration_guard.datamigrations.templates import template_class
from migration_guard.datamigrations.writes import declared_writes
from migration_guard.exceptions import UsageError

PLACEHOLDER_MODULE = placeholders.__name__


@dataclass
class MigrationFile:
    """One rendered migration file."""

    app_label: str
    name: str
    path: str
    text: str
    description: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.app_label}.{self.name}"


@dataclass
class Generated:
    """The files of one ``makedatamigration`` run (schema migration first)."""

    template: str
    files: list[MigrationFile]
    data: DataMigration

    def write(self) -> None:
        for migration_file in self.files:
            directory = os.path.dirname(migration_file.path)
            os.makedirs(directory, exist_ok=True)
            init = os.path.join(directory, "__init__.py")
            if not os.path.exists(init):
                open(init, "w").close()
        for migration_file in self.files:
            with open(migration_file.path, "w", encoding="utf-8") as handle:
                handle.write(migration_file.text)


def generate(
    app_label: str,
    name: str | None,
    template_name: str | None,
    options: Options,
    command_line: str,
    state: MigrationState | None = None,
) -> Generated:
    """Render the migration(s) of ``template_name``; raise UsageError on bad input."""
    cls = template_class(template_name)
    check_arguments(name, options)
    state = state or MigrationState()
    leaf = state.leaf(app_label)
    number = (MigrationAutodetector.parse_number(leaf) or 0) + 1
    template: Template = cls(state, app_label, options, number)
    template.check_options()
    resolved = len(state.resolved)
    data = template.build()
    if not data.writes:
        data.writes = declared_writes(r.model for r in state.resolved[resolved:])
    arranged = arrange(state, app_label, data, name or data.default_name)
    files = []
    if data.schema is not None:
        writer = MigrationWriter(arranged[0])
        text = schema_text(writer.as_string(), data, command_line)
        description = [f"+ {data.schema.description}"]
        files.append(
            MigrationFile(app_label, arranged[0].name, writer.path, text, description)
        )
    writer = MigrationWriter(arranged[-1])
    text = data_text(writer.as_string(), data, options, command_line)
    description = [f"+ {data.summary}", f"- Backwards: {data.backwards}"]
    files.append(
        MigrationFile(app_label, arranged[-1].name, writer.path, text, description)
    )
    for migration_file in files:
        check_source(migration_file)
    return Generated(cls.name, files, data)


def check_arguments(name: str | None, options: Options) -> None:
    if name is not None and not name.isidentifier():
        raise UsageError(
            f"The migration name must be a valid Python identifier, not {name!r}."
        )
    if not 1 <= options.batch_size <= MAX_BATCH_SIZE:
        raise UsageError(
            f"--batch-size must be between 1 and {MAX_BATCH_SIZE}, not "
            f"{options.batch_size}."
        )


def arrange(
    state: MigrationState, app_label: str, data: DataMigration, name: str
) -> list[migrations.Migration]:
    """The migrations of ``data``, numbered and named as makemigrations --empty
    does (after the app's leaf); the schema migration first."""
    planned: list[migrations.Migration] = []
    data_dependencies = list(data.dependencies)
    if data.schema is not None:
        planned.append(new_migration("schema", app_label, data.schema.operations, []))
        data_dependencies.insert(0, (app_label, "schema"))
    runpython = migrations.RunPython(placeholders.forwards, placeholders.backwards)
    planned.append(new_migration("data", app_label, [runpython], data_dependencies))
    autodetector = MigrationAutodetector(
        state.project_state,
        state.project_state,
        NonInteractiveMigrationQuestioner(specified_apps={app_label}, dry_run=True),
    )
    changes = autodetector.arrange_for_graph(
        changes={app_label: planned}, graph=state.loader.graph, migration_name=name
    )
    arranged: list[migrations.Migration] = changes[app_label]
    if data.schema is not None:
        # arrange_for_graph names both after --name; the schema one gets a suffix
        old = arranged[0].name
        arranged[0].name = f"{old}_{data.schema.name_suffix}"
        dependencies = cast(list[tuple[str, str]], arranged[1].dependencies)
        dependencies[:] = [
            (a, arranged[0].name if (a, n) == (app_label, old) else n)
            for a, n in dependencies
        ]
    return arranged


def new_migration(
    name: str,
    app_label: str,
    operations: list[Any],
    dependencies: list[tuple[str, str]],
) -> migrations.Migration:
    """A Migration instance, as the autodetector makes them."""
    cls = type(
        "Migration",
        (migrations.Migration,),
        {"operations": operations, "dependencies": dependencies},
    )
    migration: migrations.Migration = cls(name, app_label)
    return migration


# ---------------------------------------------------------------------------
# Text
# ---------------------------------------------------------------------------

_CLASS_LINE = "class Migration(migrations.Migration):\n"


def split_writer_text(text: str) -> tuple[list[str], set[str], str]:
    """MigrationWriter's text -> (header comment lines, imports, class source)."""
    head, _, body = text.partition(_CLASS_LINE)
    header, imports = [], set()
    for line in head.splitlines():
        if line.startswith("#"):
            header.append(line)
        elif line.startswith(("import ", "from ")):
            imports.add(line)
        elif line.strip():
            raise AssertionError(f"unexpected line in MigrationWriter output: {line}")
    return header, imports, _CLASS_LINE + body


def merge_imports(lines: set[str]) -> list[str]:
    """Import lines merged per module and sorted as MigrationWriter sorts them."""
    plain: set[str] = set()
    names: dict[str, set[str]] = {}
    for line in lines:
        if line.startswith("from "):
            module, _, imported = line[len("from ") :].partition(" import ")
            names.setdefault(module, set()).update(
                part.strip() for part in imported.split(",")
            )
        else:
            plain.add(line)
    merged = plain | {
        f"from {module} import {', '.join(sorted(imported))}"
        for module, imported in names.items()
    }
    return sorted(merged, key=lambda i: (i.split()[0] == "from", i.split()[1]))


def docstring(data: DataMigration, command_line: str, extra: list[str]) -> str:
    lines = [
        f'"""{data.summary}.',
        "",
        f"Backwards: {data.backwards}.",
        *extra,
        "",
        f"Written by {command_line}",
        "(migration_guard's makedatamigration). This file does not import",
        'migration_guard: it keeps working if migration_guard is uninstalled."""',
    ]
    return "\n".join(lines)


def writes_lines(writes: list[str]) -> str:
    """The ``migration_guard_writes`` attribute of the data migration."""
    entries = "".join(f"        {literal(w)},\n" for w in writes)
    return (
        "\n    # What forwards and backwards write: a plan-scoped backup holds\n"
        "    # these tables. Add every other model or table your code writes.\n"
        f"    migration_guard_writes = [\n{entries}    ]\n"
    )


def data_text(
    writer_text: str, data: DataMigration, options: Options, command_line: str
) -> str:
    header, imports, body = split_writer_text(writer_text)
    placeholder_import = f"import {PLACEHOLDER_MODULE}"
    assert placeholder_import in imports, imports
    imports.discard(placeholder_import)
    body = body.replace(f"{PLACEHOLDER_MODULE}.", "")
    if options.elidable:
        # RunPython.deconstruct() leaves elidable out (Django serializes it
        # nowhere), so it is added to the text.
        reverse_line = "            reverse_code=backwards,\n"
        assert reverse_line in body, body
        body = body.replace(
            reverse_line, reverse_line + "            elidable=True,\n", 1
        )
    body = body.replace(_CLASS_LINE, _CLASS_LINE + writes_lines(data.writes), 1)
    atomic = not options.non_atomic
    if not atomic:
        body = body.replace(
            _CLASS_LINE,
            _CLASS_LINE + "\n    # One transaction per batch (see batch_transaction)\n"
            "    atomic = False\n",
            1,
        )
    helper_code, helper_imports = snippets.collect(data.code.needs, atomic=atomic)
    all_imports = merge_imports(
        imports | data.imports | data.code.imports | helper_imports
    )
    batching = [
        "",
        f"Batches of {options.batch_size} rows; "
        + (
            "one transaction per batch (atomic = False)."
            if not atomic
            else "the whole migration is one transaction."
        ),
        "Progress is printed per batch with migrate -v 2.",
    ]
    if options.elidable:
        batching.append("Elidable: squashmigrations leaves it out.")
    sections = [
        f"BATCH_SIZE = {options.batch_size}\n{data.code.text.strip()}",
        *(code.strip() for code in helper_code),
        body.strip(),
    ]
    return (
        "\n".join(header)
        + "\n"
        + docstring(data, command_line, batching)
        + "\n\n"
        + "\n".join(all_imports)
        + "\n\n"
        + "\n\n\n".join(sections)
        + "\n"
    )


def schema_text(writer_text: str, data: DataMigration, command_line: str) -> str:
    header, imports, body = split_writer_text(writer_text)
    assert data.schema is not None
    doc = "\n".join(
        [
            f'"""{data.schema.description}.',
            "",
            "The table exists in the database only: it is not in the migration",
            "state, so models.py needs no model for it and makemigrations stays",
            "clean. Unapplying this migration drops it.",
            "",
            f"Written by {command_line}",
            "(migration_guard's makedatamigration), with the data migration "
            'after it."""',
        ]
    )
    return (
        "\n".join(header)
        + "\n"
        + doc
        + "\n\n"
        + "\n".join(merge_imports(imports))
        + "\n\n\n"
        + body
    )


def check_source(migration_file: MigrationFile) -> None:
    """The file compiles and imports nothing from migration_guard."""
    tree = ast.parse(migration_file.text, migration_file.path)
    compile(tree, migration_file.path, "exec")
    for node in ast.walk(tree):
        modules: list[str] = []
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        if any(re.match(r"migration_guard(\.|$)", module) for module in modules):
            raise AssertionError(f"{migration_file.path} would import migration_guard")


def describe(generated: Generated) -> dict[str, Any]:
    return {
        "template": generated.template,
        "migrations": [
            {
                "app_label": f.app_label,
                "name": f.name,
                "path": f.path,
                "description": f.description,
            }
            for f in generated.files
        ],
    }
