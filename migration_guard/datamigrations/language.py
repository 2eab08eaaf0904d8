"""The vocabulary of the expression language, and the code it translates to.

The functions and operators ``--expression`` and ``--filter`` know (with the
Django expression each becomes), the help that lists them, and :class:`Code`:
the Python source of one Django expression with the imports it needs.
:mod:`.expressions` and :mod:`.conditions` translate with them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from django.db.models import Field

TEXT_TYPES = frozenset(
    {"CharField", "TextField", "SlugField", "EmailField", "URLField", "UUIDField"}
)
NUMBER_TYPES = frozenset(
    {
        "AutoField",
        "BigAutoField",
        "SmallAutoField",
        "IntegerField",
        "BigIntegerField",
        "SmallIntegerField",
        "PositiveIntegerField",
        "PositiveBigIntegerField",
        "PositiveSmallIntegerField",
        "FloatField",
        "DecimalField",
    }
)

#: functions of the language: name -> (Django function, min args, max args, kind)
FUNCTIONS: dict[str, tuple[str, int, int | None, str | None]] = {
    "upper": ("Upper", 1, 1, "str"),
    "lower": ("Lower", 1, 1, "str"),
    "trim": ("Trim", 1, 1, "str"),
    "len": ("Length", 1, 1, "num"),
    "length": ("Length", 1, 1, "num"),
    "abs": ("Abs", 1, 1, "num"),
    "replace": ("Replace", 3, 3, "str"),
    "concat": ("Concat", 2, None, "str"),
    "coalesce": ("Coalesce", 2, None, None),
}
#: the methods of a field the language knows (conditions)
METHODS = ("startswith", "endswith")

COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.Lt: "lt",
    ast.LtE: "lte",
    ast.Gt: "gt",
    ast.GtE: "gte",
}
FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.Gt,
    ast.Gt: ast.Lt,
    ast.LtE: ast.GtE,
    ast.GtE: ast.LtE,
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
}
LOOKUP_CLASSES: dict[type[ast.cmpop], str] = {
    ast.Eq: "Exact",
    ast.Lt: "LessThan",
    ast.LtE: "LessThanOrEqual",
    ast.Gt: "GreaterThan",
    ast.GtE: "GreaterThanOrEqual",
}
ARITHMETIC: dict[type[ast.operator], str] = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.Mod: "%",
}

SYNTAX_HELP = (
    "Use field names, constants (strings, numbers, True, False, None), "
    "+ - * / %, comparisons (== != < <= > >= in, not in, is None, is not None), "
    "and/or/not, 'a if condition else b', field.startswith(...)/endswith(...), "
    "and the functions " + ", ".join(sorted({*FUNCTIONS, "bool"})) + "."
)


def field_kind(field: Field[Any, Any]) -> str:
    internal = field.get_internal_type()
    if internal in TEXT_TYPES:
        return "str"
    if internal == "BooleanField":
        return "bool"
    if internal in NUMBER_TYPES:
        return "num"
    return "other"


def python_string(value: str) -> str:
    """A string literal, in double quotes when that needs no escaping."""
    text = repr(value)
    if text.startswith("'") and '"' not in value:
        text = '"' + text[1:-1] + '"'
    return text


def literal(value: Any) -> str:
    """Python source of a constant of the language (str, int, float, bool, None)."""
    if isinstance(value, str):
        return python_string(value)
    return repr(value)


def constant_kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    return "str" if isinstance(value, str) else "num"


@dataclass(frozen=True)
class Code:
    """Python source of a Django expression, and what it needs."""

    text: str
    kind: str  # "str", "num", "bool", "other", "null"
    names: frozenset[str] = frozenset()  # from django.db.models
    functions: frozenset[str] = frozenset()  # from django.db.models.functions
    lookups: frozenset[str] = frozenset()  # from django.db.models.lookups
    fields: frozenset[str] = frozenset()  # field names read
    compound: bool = False  # needs parentheses when combined

    def using(self, *names: str) -> Code:
        """The same code, also needing ``names`` from django.db.models."""
        return replace(self, names=self.names | frozenset(names))

    @property
    def operand(self) -> str:
        """The text as an operand of an operator: in parentheses if compound."""
        return f"({self.text})" if self.compound else self.text

    def imports(self) -> set[str]:
        lines = set()
        for module, names in (
            ("django.db.models", self.names),
            ("django.db.models.functions", self.functions),
            ("django.db.models.lookups", self.lookups),
        ):
            if names:
                lines.add(f"from {module} import {', '.join(sorted(names))}")
        return lines


def q(text: str, *fields: str, names: Iterable[str] = ()) -> Code:
    """A condition: ``text`` (a Q object) reading ``fields``."""
    return Code(text, "bool", frozenset({"Q", *names}), fields=frozenset(fields))


def negate(code: Code, negated: bool = True) -> Code:
    """``~code`` (when ``negated``)."""
    if not negated:
        return code
    return replace(code, text=f"~{code.operand}", kind="bool", compound=False)


def merge(
    text: str, kind: str, parts: Iterable[Code], *, compound: bool = False, **extra: str
) -> Code:
    """Code ``text`` built from ``parts``: it needs what they need, and the
    ``name``/``function``/``lookup`` given in ``extra``."""
    parts = list(parts)

    def union(attribute: str, key: str) -> frozenset[str]:
        found: frozenset[str] = frozenset().union(
            *(getattr(p, attribute) for p in parts)
        )
        return found | {extra[key]} if extra.get(key) else found

    fields: frozenset[str] = frozenset().union(*(p.fields for p in parts))
    return Code(
        text,
        kind,
        union("names", "name"),
        union("functions", "function"),
        union("lookups", "lookup"),
        fields,
        compound,
    )
