"""Templates that change the values of fields.

Set-based (the database computes the new value; ``QuerySet.update()`` over
primary-key ranges): ``backfill``, ``copy_field``, ``merge_fields``,
``map_values``. In Python (keyset-paginated batches written back with
``update()``/``bulk_update()``): ``split_field``, ``custom``. Every reset
backwards is set-based.
"""

from __future__ import annotations

import json
from typing import Any

from django.db.models import Field

from migration_guard.datamigrations.base import (
    DataMigration,
    Template,
    check_kind,
    convert,
    serialize,
    split_names,
)
from migration_guard.datamigrations.expressions import translator
from migration_guard.datamigrations.language import (
    Code,
    field_kind,
    python_string,
)
from migration_guard.datamigrations.source import render
from migration_guard.datamigrations.state import ModelRef
from migration_guard.exceptions import UsageError

# ---------------------------------------------------------------------------
# Set-based templates: backfill, copy_field, merge_fields
# ---------------------------------------------------------------------------


class SetBased(Template):
    """Sets one field to an expression, set-based; backwards resets it."""

    path = "set-based"
    backwards = (
        "sets the field back to its default in the migration state (NULL when "
        "nullable without a default, '' for text) on the rows matching --filter"
    )

    def value(self, ref: ModelRef, target: Field[Any, Any]) -> tuple[Code, str]:
        """The new value and its description."""
        raise NotImplementedError

    def target(self, ref: ModelRef) -> Field[Any, Any]:
        assert self.options.field is not None
        return ref.writable(self.options.field, option="--field")

    def build(self) -> DataMigration:
        ref = self.model()
        target = self.target(ref)
        value, said = self.value(ref, target)
        if target.name in value.fields:
            raise UsageError(
                f"The new value {said} reads {target.name}, the field it writes: "
                f"backwards resets {target.name} and could not bring the old values "
                "back. Use map_values, or custom with your own reverse."
            )
        check_kind(ref, target, value, said)
        reset = self.resettable(ref, target)
        condition = self.condition(ref, forbidden=[target])
        condition_code, condition_imports = self.condition_constant(condition)
        summary = f"Set {ref.label}.{target.name} to {said}"
        code = render(
            "set_based",
            **self.names(ref),
            field=target.name,
            condition=condition_code,
            said=said,
            value=value.text,
            summary=summary,
            reset=reset,
        )
        return DataMigration(
            template=self.name,
            default_name=f"{self.name}_{ref.name.lower()}_{target.name}",
            summary=self.where(summary, condition),
            backwards=f"sets {target.name} back to {reset}",
            code=code,
            imports=value.imports() | condition_imports,
        )


class Backfill(SetBased):
    name = "backfill"
    summary = (
        "Set a field from an expression of the row's other fields (e.g. a flag "
        "just added), with one UPDATE per primary-key range of --batch-size rows"
    )
    required = ("model", "field", "expression")
    example = (
        "makedatamigration accounts set_has_profile_picture --template backfill "
        "--model UserProfile --field has_profile_picture "
        '--expression "bool(profile_picture_url)"'
    )

    def value(self, ref: ModelRef, target: Field[Any, Any]) -> tuple[Code, str]:
        assert self.options.expression is not None
        code = translator(ref.concrete_fields, ref.label, "--expression").value(
            self.options.expression
        )
        return code, self.options.expression.strip()


class CopyField(SetBased):
    name = "copy_field"
    summary = "Copy one field's values into another field of the same type"
    required = ("model", "source", "field")
    example = (
        "makedatamigration orders copy_number --template copy_field "
        "--model Order --from number --field reference"
    )

    def value(self, ref: ModelRef, target: Field[Any, Any]) -> tuple[Code, str]:
        names = split_names(self.options.source)
        if len(names) != 1:
            raise UsageError("--from of copy_field names one field.")
        source = ref.field(names[0], option="--from")
        if source.name == target.name:
            raise UsageError(f"--from and --field are both {source.name}.")
        if source.get_internal_type() != target.get_internal_type() and not (
            field_kind(source) == field_kind(target) == "str"
        ):
            raise UsageError(
                f"{ref.label}.{source.name} is a {source.get_internal_type()} and "
                f"{target.name} a {target.get_internal_type()}: copy_field copies "
                "between fields of the same type. Use backfill with an expression "
                "that converts the value."
            )
        short = getattr(target, "max_length", None)
        long = getattr(source, "max_length", None)
        if short is not None and long is not None and short < long:
            raise UsageError(
                f"{ref.label}.{target.name} holds {short} characters and "
                f"{source.name} {long}: longer values would fail or be cut."
            )
        return (
            Code(
                f'F("{source.name}")',
                field_kind(source),
                frozenset({"F"}),
                fields=frozenset({source.name}),
            ),
            source.name,
        )


class MergeFields(SetBased):
    name = "merge_fields"
    summary = (
        "Join several fields into one text field, with --separator between "
        "them (set-based, Concat; NULL counts as empty)"
    )
    required = ("model", "source", "field")
    optional = ("separator", "filter")
    example = (
        "makedatamigration people merge_names --template merge_fields "
        "--model Person --from first_name,last_name --field full_name"
    )

    def value(self, ref: ModelRef, target: Field[Any, Any]) -> tuple[Code, str]:
        sources = ref.fields(split_names(self.options.source), option="--from")
        if len(sources) < 2:
            raise UsageError("--from of merge_fields names two fields or more.")
        if field_kind(target) != "str":
            raise UsageError(
                f"{ref.label}.{target.name} is a {target.get_internal_type()}; "
                "merge_fields writes a text field."
            )
        separator = " " if self.options.separator is None else self.options.separator
        parts: list[str] = []
        for source in sources:
            if parts and separator:
                parts.append(f"Value({python_string(separator)})")
            parts.append(f'F("{source.name}")')
        text = f"Concat({', '.join(parts)}, output_field=TextField())"
        said = f" + {separator!r} + ".join(s.name for s in sources)
        return (
            Code(
                text,
                "str",
                frozenset({"F", "Value", "TextField"}),
                frozenset({"Concat"}),
                fields=frozenset(s.name for s in sources),
            ),
            said,
        )


# ---------------------------------------------------------------------------
# map_values
# ---------------------------------------------------------------------------


class MapValues(Template):
    name = "map_values"
    summary = (
        "Replace values of a field by a one-to-one mapping (e.g. renamed "
        "choices), set-based; refuses values that would be merged"
    )
    backwards = "applies the inverse mapping to the same rows"
    path = "set-based"
    required = ("model", "field", "mapping")
    example = (
        "makedatamigration orders uppercase_currency --template map_values "
        """--model Order --field currency --mapping '{"eur": "EUR", "usd": "USD"}'"""
    )

    def mapping(self, ref: ModelRef, target: Field[Any, Any]) -> list[tuple[Any, Any]]:
        assert self.options.mapping is not None
        try:
            raw = json.loads(self.options.mapping)
        except ValueError as exc:
            raise UsageError(f"--mapping is not valid JSON: {exc}.") from None
        if isinstance(raw, dict):
            pairs = list(raw.items())
        elif isinstance(raw, list) and all(
            isinstance(p, list) and len(p) == 2 for p in raw
        ):
            pairs = [(p[0], p[1]) for p in raw]
        else:
            raise UsageError(
                '--mapping must be a JSON object {"old": "new"} or a list of '
                "[old, new] pairs."
            )
        if not pairs:
            raise UsageError("--mapping is empty.")
        label = f"{ref.label}.{target.name}"
        converted = []
        for old, new in pairs:
            converted.append((convert(target, old, label), convert(target, new, label)))
        olds = [old for old, _ in converted]
        news = [new for _, new in converted]
        for old, new in converted:
            if old == new:
                raise UsageError(f"--mapping maps {old!r} to itself.")
            if new is None and not target.null:
                raise UsageError(
                    f"--mapping maps {old!r} to None: {label} is NOT NULL."
                )
        for values, what in ((olds, "from"), (news, "to")):
            repeated = sorted({repr(v) for v in values if values.count(v) > 1})
            if repeated:
                raise UsageError(
                    f"--mapping is not one-to-one: it maps several values {what} "
                    f"{', '.join(repeated)}, so the inverse mapping could not tell "
                    "them apart."
                )
        return converted

    def build(self) -> DataMigration:
        ref = self.model()
        assert self.options.field is not None
        target = ref.writable(self.options.field, option="--field")
        pairs = self.mapping(ref, target)
        condition = self.condition(ref, forbidden=[target])
        condition_code, imports = self.condition_constant(condition)
        entries = []
        for old, new in pairs:
            old_text, old_imports = serialize(old)
            new_text, new_imports = serialize(new)
            imports |= old_imports | new_imports
            entries.append(f"    {old_text}: {new_text},")
        said = ", ".join(f"{old!r} -> {new!r}" for old, new in pairs)
        code = render(
            "map_values",
            **self.names(ref),
            field=target.name,
            mapping="{\n" + "\n".join(entries) + "\n}",
            condition=condition_code,
        )
        return DataMigration(
            template=self.name,
            default_name=f"map_{ref.name.lower()}_{target.name}",
            summary=self.where(f"Map {ref.label}.{target.name}: {said}", condition),
            backwards="applies the inverse mapping",
            code=code,
            imports=imports,
        )


# ---------------------------------------------------------------------------
# split_field and custom: computed in Python, bulk_update path
# ---------------------------------------------------------------------------


class SplitField(Template):
    name = "split_field"
    summary = (
        "Split a text field at --separator into several fields, in Python "
        "(the last field gets the rest, missing parts are empty)"
    )
    backwards = (
        "sets the --into fields back to their default in the migration state "
        "on the rows matching --filter"
    )
    path = "in Python"
    required = ("model", "source", "into")
    optional = ("separator", "filter")
    example = (
        "makedatamigration people split_names --template split_field "
        "--model Person --from full_name --into first_name,last_name"
    )

    def build(self) -> DataMigration:
        ref = self.model()
        sources = split_names(self.options.source)
        if len(sources) != 1:
            raise UsageError("--from of split_field names one field.")
        source = ref.field(sources[0], option="--from")
        if field_kind(source) != "str":
            raise UsageError(
                f"{ref.label}.{source.name} is a {source.get_internal_type()}; "
                "split_field splits text."
            )
        targets = [
            ref.writable(name, option="--into")
            for name in split_names(self.options.into)
        ]
        ref.fields([t.name for t in targets], option="--into")
        if len(targets) < 2:
            raise UsageError("--into of split_field names two fields or more.")
        for target in targets:
            if target.name == source.name:
                raise UsageError(f"--into includes --from ({source.name}).")
            if field_kind(target) != "str":
                raise UsageError(
                    f"{ref.label}.{target.name} is a {target.get_internal_type()}; "
                    "split_field writes text fields."
                )
        resets = [self.resettable(ref, target) for target in targets]
        condition = self.condition(ref, forbidden=targets)
        condition_code, imports = self.condition_constant(condition)
        separator = " " if self.options.separator is None else self.options.separator
        if not separator:
            raise UsageError("--separator of split_field cannot be empty.")
        names = ", ".join(f'"{t.name}"' for t in targets)
        summary = (
            f"Split {ref.label}.{source.name} at {separator!r} into "
            f"{', '.join(t.name for t in targets)}"
        )
        code = render(
            "split_field",
            **self.names(ref),
            source=source.name,
            targets=f"[{names}]",
            separator=python_string(separator),
            condition=condition_code,
            summary=summary,
            target_names=", ".join(t.name for t in targets),
        )
        said_resets = ", ".join(
            f"{t.name} to {reset}" for t, reset in zip(targets, resets, strict=True)
        )
        return DataMigration(
            template=self.name,
            default_name=f"split_{ref.name.lower()}_{source.name}",
            summary=self.where(summary, condition),
            backwards=f"sets {said_resets}",
            code=code,
            imports=imports,
        )


class Custom(Template):
    name = "custom"
    summary = (
        "The batching skeleton: fill in forwards_row() and backwards_row(), "
        "which change one row in Python; batches are read by keyset "
        "pagination and written back with update()/bulk_update()"
    )
    backwards = "runs your backwards_row() on the rows matching --filter"
    path = "in Python"
    required = ("model", "fields")
    optional = ("read", "filter")
    example = (
        "makedatamigration accounts flag_pictures --template custom "
        "--model UserProfile --fields has_profile_picture "
        "--read profile_picture_url"
    )

    def build(self) -> DataMigration:
        ref = self.model()
        written = [
            ref.writable(name, option="--fields")
            for name in split_names(self.options.fields)
        ]
        ref.fields([f.name for f in written], option="--fields")
        if not written:
            raise UsageError("--fields names the fields your functions change.")
        read: list[Field[Any, Any]] | None = None
        if self.options.read:
            read = ref.fields(split_names(self.options.read), option="--read")
        condition = self.condition(ref, forbidden=written)
        condition_code, imports = self.condition_constant(condition)
        matching = " matching CONDITION" if condition else ""
        fields_text = ", ".join(f'"{f.name}"' for f in written)
        if read is None:
            loaded = "every field"
            read_line = "READ = None  # every field is loaded"
        else:
            names = [f.name for f in read] + [f.name for f in written if f not in read]
            loaded = ", ".join(names)
            read_line = (
                "# Only these fields are loaded: reading another one costs a query "
                "per row.\nREAD = [" + ", ".join(f'"{n}"' for n in names) + "]"
            )
        code = render(
            "custom",
            **self.names(ref),
            fields=f"[{fields_text}]",
            read=read_line,
            condition=condition_code,
            loaded=loaded,
            matching=matching,
        )
        return DataMigration(
            template=self.name,
            default_name=f"change_{ref.name.lower()}",
            summary=f"Run forwards_row() (to fill in) on {ref.label}, writing "
            f"{', '.join(f.name for f in written)}",
            backwards="runs backwards_row() (to fill in)",
            code=code,
            imports=imports,
        )
