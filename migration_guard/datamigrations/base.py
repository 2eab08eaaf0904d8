"""What every template shares: options, the result, the Template base class."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from django.core.exceptions import ValidationError
from django.db.migrations.writer import MigrationWriter
from django.db.models import Field

from migration_guard.datamigrations.expressions import translator
from migration_guard.datamigrations.language import (
    Code,
    field_kind,
    literal,
)
from migration_guard.datamigrations.source import Source
from migration_guard.datamigrations.state import MigrationState, ModelRef
from migration_guard.exceptions import UsageError

DEFAULT_BATCH_SIZE = 1000
MAX_BATCH_SIZE = 100_000


@dataclass(frozen=True)
class Option:
    """A template option of the command line."""

    flag: str
    dest: str
    metavar: str
    help: str


OPTIONS: dict[str, Option] = {
    option.dest: option
    for option in (
        Option("--model", "model", "MODEL", "the model whose rows change"),
        Option("--field", "field", "FIELD", "the field that is written"),
        Option(
            "--expression",
            "expression",
            "EXPR",
            "the new value, an expression of the row's fields (see below)",
        ),
        Option(
            "--from",
            "source",
            "FIELD[,FIELD...]",
            "the field(s) read (merge_fields: several, comma-separated)",
        ),
        Option(
            "--into",
            "into",
            "FIELD,FIELD[,...]",
            "the fields written by split_field, comma-separated",
        ),
        Option(
            "--separator",
            "separator",
            "TEXT",
            'the text between parts (split_field, merge_fields; default " ")',
        ),
        Option(
            "--mapping",
            "mapping",
            "JSON",
            'old -> new values: {"old": "new", ...} or [[old, new], ...]',
        ),
        Option(
            "--to-model",
            "to_model",
            "MODEL",
            "the model rows move to (app_label.Model for another app)",
        ),
        Option(
            "--filter",
            "filter",
            "COND",
            "only rows matching this condition (see below)",
        ),
        Option(
            "--rows",
            "rows",
            "JSON",
            'the rows to create: [{"field": value, ...}, ...]',
        ),
        Option(
            "--natural-key",
            "natural_key",
            "FIELD[,FIELD...]",
            "the unique field(s) that identify a seeded row",
        ),
        Option(
            "--fields",
            "fields",
            "FIELD[,FIELD...]",
            "custom: the fields forwards_row()/backwards_row() change",
        ),
        Option(
            "--read",
            "read",
            "FIELD[,FIELD...]",
            "custom: load only these fields (and --fields); default: all",
        ),
    )
}


@dataclass
class Options:
    """The template options given on the command line (None when absent)."""

    model: str | None = None
    field: str | None = None
    expression: str | None = None
    source: str | None = None
    into: str | None = None
    separator: str | None = None
    mapping: str | None = None
    to_model: str | None = None
    filter: str | None = None
    rows: str | None = None
    natural_key: str | None = None
    fields: str | None = None
    read: str | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    non_atomic: bool = False
    elidable: bool = False

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> Options:
        known = {
            key: values[key]
            for key in cls.__dataclass_fields__
            if values.get(key) is not None
        }
        return cls(**known)


@dataclass
class SchemaMigration:
    """A schema migration written before the data migration (archive table)."""

    operations: list[Any]
    name_suffix: str
    description: str


@dataclass
class DataMigration:
    """What a template produces: the code of one data migration and its story."""

    template: str
    default_name: str
    summary: str  # one line: what forwards does
    backwards: str  # one line: what backwards does
    # module-level code: constants, forwards, backwards, own helpers; with the
    # imports and snippets it needs
    code: Source
    imports: set[str] = field(default_factory=set)  # of the values written in it
    dependencies: list[tuple[str, str]] = field(default_factory=list)
    schema: SchemaMigration | None = None
    #: ``migration_guard_writes`` of the data migration (writes.declared_writes)
    writes: list[str] = field(default_factory=list)


def split_names(value: str | None) -> list[str]:
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def serialize(value: Any) -> tuple[str, set[str]]:
    """Python source of a value for the migration file, and its imports."""
    if value is None or isinstance(value, str | bool | int | float):
        return literal(value), set()
    text, imports = MigrationWriter.serialize(value)
    return text, set(imports)


def model_variable(ref: ModelRef) -> str:
    return ref.name


class Template:
    """Base class: one entry of the library."""

    name: ClassVar[str]
    summary: ClassVar[str]
    backwards: ClassVar[str]
    required: ClassVar[tuple[str, ...]] = ("model",)
    optional: ClassVar[tuple[str, ...]] = ("filter",)
    example: ClassVar[str]
    path: ClassVar[str]  # "set-based" or "in Python"

    def __init__(
        self, state: MigrationState, app_label: str, options: Options, number: int
    ) -> None:
        self.state = state
        self.app_label = app_label
        self.options = options
        self.number = number  # of the first migration this template writes

    # ------------------------------------------------------------------ options

    @classmethod
    def accepted(cls) -> tuple[str, ...]:
        return (*cls.required, *cls.optional)

    def check_options(self) -> None:
        given = {
            dest
            for dest in OPTIONS
            if getattr(self.options, dest) not in (None, "", [])
        }
        unknown = sorted(given - set(self.accepted()))
        if unknown:
            flags = ", ".join(OPTIONS[dest].flag for dest in unknown)
            raise UsageError(
                f"Template {self.name} does not take {flags}. Its options: "
                f"{self.describe_options()}."
            )
        missing = [dest for dest in self.required if dest not in given]
        if missing:
            flags = ", ".join(OPTIONS[dest].flag for dest in missing)
            raise UsageError(
                f"Template {self.name} needs {flags}. Its options: "
                f"{self.describe_options()}."
            )

    @classmethod
    def describe_options(cls) -> str:
        parts = [f"{OPTIONS[d].flag} {OPTIONS[d].metavar}" for d in cls.required]
        parts += [f"[{OPTIONS[d].flag} {OPTIONS[d].metavar}]" for d in cls.optional]
        return " ".join(parts)

    # ------------------------------------------------------------------ helpers

    def model(self) -> ModelRef:
        assert self.options.model is not None
        ref = self.state.model(self.app_label, self.options.model)
        if ref.app_label != self.app_label:
            raise UsageError(
                f"--model {self.options.model!r}: the data migration goes into app "
                f"{self.app_label!r}, so --model must be one of its models; give "
                f"'{ref.app_label}' as the app_label to change {ref.label}."
            )
        if getattr(ref.model._meta, "is_composite_pk", False):
            raise UsageError(
                f"{ref.label} has a composite primary key; batching by primary-key "
                "ranges needs a single-column one."
            )
        return ref

    def condition(
        self, ref: ModelRef, *, forbidden: Sequence[Field[Any, Any]] = ()
    ) -> Code | None:
        """The ``--filter`` condition (Code) or None."""
        if not self.options.filter:
            return None
        code = translator(ref.concrete_fields, ref.label, "--filter").condition(
            self.options.filter
        )
        used = sorted(code.fields & {f.name for f in forbidden})
        if used:
            raise UsageError(
                f"--filter {self.options.filter!r} uses {', '.join(used)}, which "
                f"template {self.name} writes: backwards could not find the same "
                "rows again. Filter on fields that the migration does not change."
            )
        return code

    def condition_constant(self, condition: Code | None) -> tuple[str, set[str]]:
        if condition is None:
            return "CONDITION = None  # every row", set()
        return (
            f"# Only rows matching --filter {self.options.filter!r}\n"
            f"CONDITION = {condition.text}",
            condition.imports(),
        )

    def where(self, text: str, condition: Code | None) -> str:
        """``text`` and, with --filter, the condition in words."""
        return f"{text} where {self.options.filter}" if condition else text

    def resettable(self, ref: ModelRef, target: Field[Any, Any]) -> str:
        """How backwards resets ``target``, or a UsageError if it cannot."""
        if target.has_default():
            if callable(target.default):
                name = getattr(target.default, "__qualname__", repr(target.default))
                return f"its default, {name}() (called once for all rows)"
            return f"its default, {target.default!r}"
        if target.has_db_default():
            return "its database default"
        if target.null:
            return "NULL"
        if target.empty_strings_allowed:
            return "an empty string"
        raise UsageError(
            f"{ref.label}.{target.name} has no default and is not nullable, so "
            f"backwards could not reset it. Give it a default or null=True in a "
            "schema migration first, or use the custom template and write the "
            "reverse yourself."
        )

    def names(self, ref: ModelRef) -> dict[str, str]:
        """Placeholders of the model the template changes: its variable and app."""
        return {"model": model_variable(ref), "app_label": ref.app_label}

    def build(self) -> DataMigration:
        raise NotImplementedError


def check_kind(ref: ModelRef, target: Field[Any, Any], value: Code, said: str) -> None:
    """Refuse values that the database could not store in ``target``."""
    kind = field_kind(target)
    if value.kind == "null":
        if not target.null:
            raise UsageError(
                f"{said} is NULL, but {ref.label}.{target.name} is not nullable."
            )
        return
    if "other" in (kind, value.kind) or kind == value.kind:
        return
    raise UsageError(
        f"{said} is a {_KIND_NAMES[value.kind]} value, but {ref.label}."
        f"{target.name} is a {target.get_internal_type()}."
    )


_KIND_NAMES = {"str": "text", "num": "number", "bool": "boolean", "other": "other"}


def convert(target: Field[Any, Any], value: Any, label: str) -> Any:
    """``value`` as ``target`` stores it, or a UsageError saying why not."""
    if value is None:
        return None
    if isinstance(value, dict | list):
        raise UsageError(f"{value!r} is not a value of {label}.")
    try:
        if target.is_relation:
            target_field = target.target_field  # type: ignore[attr-defined]
            return target_field.to_python(value)
        converted = target.to_python(value)
        target.run_validators(converted)
    except ValidationError as exc:
        raise UsageError(
            f"{value!r} is not a valid value of {label} "
            f"({target.get_internal_type()}): {' '.join(exc.messages)}"
        ) from None
    return converted


def refuse_related(ref: ModelRef, template: str) -> None:
    incoming = ref.incoming()
    if incoming:
        raise UsageError(
            f"Rows of {ref.label} are referenced by {', '.join(incoming)}: "
            f"{template} deletes rows of {ref.name}, which would delete or break "
            "the rows that point to them, and its reverse could not bring those "
            "back. Use custom instead."
        )
