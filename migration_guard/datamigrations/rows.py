"""Templates that create, move or delete rows.

``move_rows``, ``seed_rows`` and ``archive_and_delete``.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.backends.utils import truncate_name
from django.db.models import Field

from migration_guard.datamigrations.base import (
    DataMigration,
    SchemaMigration,
    Template,
    convert,
    model_variable,
    refuse_related,
    serialize,
    split_names,
)
from migration_guard.datamigrations.language import field_kind
from migration_guard.datamigrations.source import render
from migration_guard.datamigrations.state import ModelRef
from migration_guard.exceptions import UsageError


class MoveRows(Template):
    name = "move_rows"
    summary = (
        "Move the rows matching --filter to another model with the same "
        "fields, keeping their primary keys"
    )
    backwards = (
        "moves the rows of the target model that match --filter back; forwards "
        "refuses to run when the target already has such rows"
    )
    path = "in Python"
    required = ("model", "to_model")
    optional = ("filter",)
    example = (
        "makedatamigration people retire_people --template move_rows "
        "--model Person --to-model FormerPerson --filter \"status == 'left'\""
    )

    def build(self) -> DataMigration:
        source = self.model()
        assert self.options.to_model is not None
        target = self.state.model(
            self.app_label, self.options.to_model, option="--to-model"
        )
        if target.label == source.label:
            raise UsageError("--model and --to-model are the same model.")
        refuse_related(source, self.name)
        refuse_related(target, self.name)
        fields = self.shared_fields(source, target)
        condition = self.condition(source)
        matching = " that match CONDITION" if condition else ""
        if condition is not None:
            target_names = {f.name for f in target.concrete_fields}
            missing = sorted(condition.fields - target_names)
            if missing:
                raise UsageError(
                    f"--filter uses {', '.join(missing)}, which {target.label} does "
                    "not have: backwards finds the rows to move back with the same "
                    "filter on it."
                )
        condition_code, imports = self.condition_constant(condition)
        src, dst = model_variable(source), model_variable(target)
        if src == dst:
            src, dst = "Source", "Target"
        names = ", ".join(f'"{f.attname}"' for f in fields)
        summary = f"Move {source.label} rows to {target.label}"
        dependencies = []
        if target.app_label != self.app_label:
            dependencies.append((target.app_label, target.leaf))
        code = render(
            "move_rows",
            fields=f"[{names}]",
            condition=condition_code,
            summary=summary,
            matching=matching,
            src=src,
            dst=dst,
            source_app=source.app_label,
            source=source.name,
            target_app=target.app_label,
            target=target.name,
            source_label=source.label,
            target_label=target.label,
        )
        return DataMigration(
            template=self.name,
            default_name=f"move_{source.name.lower()}_to_{target.name.lower()}",
            summary=self.where(summary, condition),
            backwards=f"moves the matching {target.label} rows back",
            code=code,
            imports=imports,
            dependencies=dependencies,
        )

    def shared_fields(
        self, source: ModelRef, target: ModelRef
    ) -> list[Field[Any, Any]]:
        """Source fields (all of them must exist in the target, same type)."""
        by_name = {f.name: f for f in target.concrete_fields}
        problems = []
        for f in source.concrete_fields:
            other = by_name.get(f.name)
            if other is None:
                problems.append(f"{target.label} has no field {f.name}")
            elif f.primary_key != other.primary_key:
                problems.append(f"{f.name} is the primary key of one model only")
            elif f.get_internal_type() != other.get_internal_type() and not (
                f.primary_key and field_kind(f) == field_kind(other) == "num"
            ):
                problems.append(
                    f"{f.name} is a {f.get_internal_type()} in {source.label} and a "
                    f"{other.get_internal_type()} in {target.label}"
                )
        source_names = {f.name for f in source.concrete_fields}
        for other in target.concrete_fields:
            if other.name in source_names:
                continue
            if not (other.has_default() or other.null or other.has_db_default()):
                problems.append(
                    f"{target.label}.{other.name} has no value to take (not in "
                    f"{source.label}, no default, not nullable)"
                )
        if problems:
            raise UsageError(
                f"move_rows keeps every column of {source.label}: "
                + "; ".join(problems)
                + "."
            )
        return source.concrete_fields


class SeedRows(Template):
    name = "seed_rows"
    summary = (
        "Create reference rows identified by a natural key (unique fields); "
        "refuses to run when one of them exists already"
    )
    backwards = "deletes exactly those rows, found by their natural keys"
    path = "bulk_create"
    required = ("model", "rows", "natural_key")
    optional = ()
    example = (
        "makedatamigration catalog seed_categories --template seed_rows "
        "--model Category --natural-key slug "
        """--rows '[{"slug": "books", "name": "Books"}]'"""
    )

    def natural_key(self, ref: ModelRef) -> list[Field[Any, Any]]:
        fields = ref.fields(
            split_names(self.options.natural_key), option="--natural-key"
        )
        names = {f.name for f in fields}
        meta = ref.model._meta
        unique_sets = [{f.name} for f in ref.concrete_fields if f.unique]
        unique_sets += [set(names) for names in meta.unique_together]
        unique_sets += [set(c.fields) for c in meta.total_unique_constraints]
        if names not in unique_sets:
            known = sorted(",".join(sorted(s)) for s in unique_sets)
            raise UsageError(
                f"--natural-key {self.options.natural_key!r} is not unique in the "
                f"migration state of {ref.label}, so backwards could delete other "
                f"rows with the same key. Unique there: {'; '.join(known) or 'none'}."
            )
        return fields

    def rows(
        self, ref: ModelRef, natural_key: list[Field[Any, Any]]
    ) -> list[dict[str, Any]]:
        assert self.options.rows is not None
        try:
            raw = json.loads(self.options.rows)
        except ValueError as exc:
            raise UsageError(f"--rows is not valid JSON: {exc}.") from None
        if (
            not isinstance(raw, list)
            or not raw
            or not all(isinstance(r, dict) for r in raw)
        ):
            raise UsageError('--rows must be a JSON list of objects: [{"field": ...}].')
        rows: list[dict[str, Any]] = []
        keys: set[tuple[Any, ...]] = set()
        for number, given in enumerate(raw, 1):
            row: dict[str, Any] = {}
            for name, value in given.items():
                f = ref.field(name, option=f"--rows (row {number})")
                if f.attname in row:
                    raise UsageError(f"--rows: row {number} sets {f.name} twice.")
                if value is None and not f.null:
                    raise UsageError(
                        f"--rows: row {number} sets {f.name} to null, but "
                        f"{ref.label}.{f.name} is not nullable."
                    )
                row[f.attname] = convert(
                    f, value, f"{ref.label}.{f.name} (row {number})"
                )
            for f in ref.concrete_fields:
                if f.attname in row or f.primary_key:
                    continue
                if not (f.has_default() or f.null or f.has_db_default()):
                    if f.empty_strings_allowed and not f.unique:
                        continue  # Django stores "" for text without a default
                    raise UsageError(
                        f"--rows: row {number} has no value for {f.name} "
                        f"({ref.label}.{f.name} has no default and is not nullable)."
                    )
            key = tuple(row.get(f.attname) for f in natural_key)
            if any(value is None for value in key):
                raise UsageError(
                    f"--rows: row {number} has no value for the natural key "
                    f"{', '.join(f.name for f in natural_key)}."
                )
            if key in keys:
                raise UsageError(
                    f"--rows: row {number} repeats the natural key {key!r}."
                )
            keys.add(key)
            rows.append(row)
        return rows

    def build(self) -> DataMigration:
        ref = self.model()
        natural_key = self.natural_key(ref)
        rows = self.rows(ref, natural_key)
        imports: set[str] = set()
        lines = []
        for row in rows:
            parts = []
            for name, value in row.items():
                text, value_imports = serialize(value)
                imports |= value_imports
                parts.append(f'"{name}": {text}')
            lines.append("    {" + ", ".join(parts) + "},")
        key_text = ", ".join(f'"{f.attname}"' for f in natural_key)
        summary = (
            f"Create {len(rows)} {ref.label} row{'s' if len(rows) != 1 else ''} "
            f"keyed by {', '.join(f.name for f in natural_key)}"
        )
        code = render(
            "seed_rows",
            **self.names(ref),
            natural_key=f"[{key_text}]",
            rows="[\n" + "\n".join(lines) + "\n]",
            summary=summary,
        )
        return DataMigration(
            template=self.name,
            default_name=f"seed_{ref.name.lower()}",
            summary=summary,
            backwards="deletes those rows by their natural keys",
            code=code,
            imports=imports,
        )


class ArchiveAndDelete(Template):
    name = "archive_and_delete"
    summary = (
        "Delete the rows matching --filter, keeping each as JSON in an archive "
        "table that a schema migration written with it creates"
    )
    backwards = (
        "restores every archived row with its primary key and empties the "
        "archive; unapplying the schema migration drops the table"
    )
    path = "in Python"
    required = ("model",)
    optional = ("filter",)
    example = (
        "makedatamigration orders archive_empty_lines --template "
        'archive_and_delete --model OrderLine --filter "quantity == 0"'
    )

    def build(self) -> DataMigration:
        from django.db import migrations, models

        ref = self.model()
        refuse_related(ref, self.name)
        condition = self.condition(ref)
        matching = " matching CONDITION" if condition else ""
        condition_code, imports = self.condition_constant(condition)
        table = truncate_name(
            f"{ref.model._meta.db_table}_archive_{self.number:04d}", 63
        )
        summary = self.where(f"Delete {ref.label} rows", condition)
        summary += ", archived as JSON"
        code = render(
            "archive_and_delete",
            **self.names(ref),
            table=table,
            condition=condition_code,
            matching=matching,
        )
        schema = SchemaMigration(
            operations=[
                migrations.SeparateDatabaseAndState(
                    database_operations=[
                        migrations.CreateModel(
                            name=f"{ref.name}Archive",
                            fields=[
                                (
                                    "id",
                                    models.BigAutoField(
                                        primary_key=True, serialize=False
                                    ),
                                ),
                                ("object_pk", models.TextField()),
                                ("data", models.JSONField()),
                            ],
                            options={"db_table": table},
                        )
                    ]
                )
            ],
            name_suffix="table",
            description=f"Create the archive table of {ref.label} (database only)",
        )
        return DataMigration(
            template=self.name,
            default_name=f"archive_{ref.name.lower()}",
            summary=summary,
            backwards="restores the archived rows and empties the archive",
            code=code,
            imports=imports,
            schema=schema,
        )
