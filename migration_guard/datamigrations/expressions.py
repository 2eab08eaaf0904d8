"""The small expression language of ``--expression`` and ``--filter``.

Expressions are written in Python syntax over the model's field names and
turned into the text of Django expressions (``F``, ``Q``, ``Value``, ``Case``,
database functions) for the generated migration. The text is parsed with
:func:`ast.parse` and translated node by node; nothing the user typed is ever
evaluated, and every name must be a concrete field of the model in the
migration state.

Values (``--expression``)::

    profile_picture_url               a field            F("profile_picture_url")
    "x", 3, 2.5, True, None           a constant         Value("x")
    price * 2, a + b, -a              arithmetic          F("price") * Value(2)
    first_name + " " + last_name      text joined         Concat(...)
    upper(x) lower(x) trim(x) len(x) abs(x)
    coalesce(a, b, ...) concat(a, ...) replace(x, "old", "new")
    a if condition else b             Case(When(...), default=...)
    any condition                     True/False          Case(When(Q, then=True), ...)

Conditions (``--filter``, and inside values)::

    field == "x"  field != 3  field < 5  field >= "2024-01-01"
    field is None  field is not None  field in ["a", "b"]  field not in [...]
    "x" in field  field.startswith("x")  field.endswith("x")
    field (truthy)  bool(field)  not c  c and d  c or d  a == b (two fields)

A field is truthy when it is not NULL and not empty: not ``""`` for text,
not ``0`` for numbers, ``True`` for booleans.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Field

from migration_guard.exceptions import UsageError

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

_COMPARISONS: dict[type[ast.cmpop], str] = {
    ast.Lt: "lt",
    ast.LtE: "lte",
    ast.Gt: "gt",
    ast.GtE: "gte",
}
_FLIPPED: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Lt: ast.Gt,
    ast.Gt: ast.Lt,
    ast.LtE: ast.GtE,
    ast.GtE: ast.LtE,
    ast.Eq: ast.Eq,
    ast.NotEq: ast.NotEq,
}
_LOOKUP_CLASSES: dict[type[ast.cmpop], str] = {
    ast.Eq: "Exact",
    ast.Lt: "LessThan",
    ast.LtE: "LessThanOrEqual",
    ast.Gt: "GreaterThan",
    ast.GtE: "GreaterThanOrEqual",
}
_ARITHMETIC: dict[type[ast.operator], str] = {
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
        return Code(
            self.text,
            self.kind,
            self.names | frozenset(names),
            self.functions,
            self.lookups,
            self.fields,
            self.compound,
        )

    def imports(self) -> set[str]:
        lines = set()
        if self.names:
            lines.add("from django.db.models import " + ", ".join(sorted(self.names)))
        if self.functions:
            lines.add(
                "from django.db.models.functions import "
                + ", ".join(sorted(self.functions))
            )
        if self.lookups:
            lines.add(
                "from django.db.models.lookups import "
                + ", ".join(sorted(self.lookups))
            )
        return lines


def _merge(
    text: str, kind: str, parts: Iterable[Code], *, compound: bool = False, **extra: str
) -> Code:
    parts = list(parts)
    names = frozenset().union(*(p.names for p in parts))
    if extra.get("name"):
        names |= {extra["name"]}
    functions = frozenset().union(*(p.functions for p in parts))
    if extra.get("function"):
        functions |= {extra["function"]}
    lookups = frozenset().union(*(p.lookups for p in parts))
    if extra.get("lookup"):
        lookups |= {extra["lookup"]}
    fields = frozenset().union(*(p.fields for p in parts))
    return Code(text, kind, names, functions, lookups, fields, compound)


@dataclass
class Translator:
    """Translates one expression for one model.

    ``fields`` maps the names usable in expressions (field names and
    attnames of the model's concrete fields) to the fields; ``describe`` names
    the model in error messages.
    """

    fields: dict[str, Field[Any, Any]]
    describe: str
    option: str = "--expression"
    source: str = ""

    # ---------------------------------------------------------------- entry points

    def value(self, text: str) -> Code:
        return self._value(self._parse(text))

    def condition(self, text: str) -> Code:
        return self._condition(self._parse(text))

    # ---------------------------------------------------------------- helpers

    def _parse(self, text: str) -> ast.expr:
        self.source = text
        if not text.strip():
            raise self._error("it is empty")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise self._error(f"it is not valid syntax ({exc.msg})") from None
        return tree.body

    def _error(self, why: str) -> UsageError:
        return UsageError(f"{self.option} {self.source!r}: {why}. {SYNTAX_HELP}")

    def _field(self, name: str) -> Field[Any, Any]:
        try:
            return self.fields[name]
        except KeyError:
            known = sorted({f.name for f in self.fields.values()})
            raise UsageError(
                f"{self.option} {self.source!r}: {self.describe} has no field "
                f"{name!r} in its migration state. Its fields: {', '.join(known)}."
            ) from None

    def _field_code(self, node: ast.Name) -> Code:
        f = self._field(node.id)
        return Code(
            f'F("{node.id}")',
            field_kind(f),
            frozenset({"F"}),
            fields=frozenset({f.name}),
        )

    def _constant(self, node: ast.expr) -> Any:
        if isinstance(node, ast.Constant) and (
            node.value is None or isinstance(node.value, str | int | float | bool)
        ):
            return node.value
        if (
            isinstance(node, ast.UnaryOp)
            and isinstance(node.op, ast.USub)
            and isinstance(node.operand, ast.Constant)
            and isinstance(node.operand.value, int | float)
            and not isinstance(node.operand.value, bool)
        ):
            return -node.operand.value
        raise self._error(f"{ast.unparse(node)} is not a constant")

    def _is_constant(self, node: ast.expr) -> bool:
        try:
            self._constant(node)
        except UsageError:
            return False
        return True

    def _check_value(self, f: Field[Any, Any], value: Any) -> None:
        """The constant must be a valid value of the field it is compared with."""
        if value is None:
            return
        try:
            f.to_python(value)
        except ValidationError as exc:
            raise self._error(
                f"{value!r} is not a valid value of {self.describe}.{f.name} "
                f"({f.get_internal_type()}): {' '.join(exc.messages)}"
            ) from None

    # ---------------------------------------------------------------- values

    def _value(self, node: ast.expr) -> Code:
        if self._is_constant(node):
            value = self._constant(node)
            kind = (
                "null"
                if value is None
                else "bool"
                if isinstance(value, bool)
                else "str"
                if isinstance(value, str)
                else "num"
            )
            return Code(f"Value({literal(value)})", kind, frozenset({"Value"}))
        if isinstance(node, ast.Name):
            return self._field_code(node)
        if isinstance(node, ast.BinOp) and type(node.op) in _ARITHMETIC:
            return self._arithmetic(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            operand = self._value(node.operand)
            if operand.kind not in ("num", "other"):
                raise self._error(f"cannot negate {ast.unparse(node.operand)}")
            text = f"-({operand.text})" if operand.compound else f"-{operand.text}"
            return _merge(text, operand.kind, [operand])
        if isinstance(node, ast.IfExp):
            test = self._condition(node.test)
            body, orelse = self._value(node.body), self._value(node.orelse)
            kind = body.kind if body.kind != "null" else orelse.kind
            return _merge(
                f"Case(When({test.text}, then={body.text}), default={orelse.text})",
                kind,
                [test, body, orelse],
                name="Case",
            ).using("When")
        if isinstance(node, ast.Call):
            self._check_call(node)
            if isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
                return self._function(node, node.func.id)
        if isinstance(node, ast.Compare | ast.BoolOp | ast.Call) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            test = self._condition(node)
            return _merge(
                f"Case(When({test.text}, then=Value(True)), default=Value(False))",
                "bool",
                [test],
                name="Case",
            ).using("When", "Value")
        raise self._error(f"{ast.unparse(node)} is not supported")

    def _arithmetic(self, node: ast.BinOp) -> Code:
        left, right = self._value(node.left), self._value(node.right)
        if "str" in (left.kind, right.kind):
            if not isinstance(node.op, ast.Add):
                raise self._error(f"text supports + only: {ast.unparse(node)}")
            parts = []
            for part in (left, right):
                if part.text.startswith("Concat(") and part.text.endswith(")"):
                    parts.append(part.text[len("Concat(") : -1])
                else:
                    parts.append(part.text)
            return _merge(
                f"Concat({', '.join(parts)})", "str", [left, right], function="Concat"
            )
        for part, side in ((left, node.left), (right, node.right)):
            if part.kind not in ("num", "other"):
                raise self._error(
                    f"{ast.unparse(side)} is not a number in {ast.unparse(node)}"
                )
        texts = [f"({p.text})" if p.compound else p.text for p in (left, right)]
        op = _ARITHMETIC[type(node.op)]
        kind = "num" if left.kind == right.kind == "num" else "other"
        return _merge(f"{texts[0]} {op} {texts[1]}", kind, [left, right], compound=True)

    def _check_call(self, node: ast.Call) -> None:
        """Only the functions and methods of the language can be called."""
        func = node.func
        if isinstance(func, ast.Name) and (func.id in FUNCTIONS or func.id == "bool"):
            return
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("startswith", "endswith")
            and isinstance(func.value, ast.Name)
        ):
            return
        raise self._error(f"{ast.unparse(node)} is not supported")

    def _function(self, node: ast.Call, name: str) -> Code:
        django_name, least, most, kind = FUNCTIONS[name]
        if node.keywords:
            raise self._error(f"{name}() takes no keyword arguments")
        count = len(node.args)
        if count < least or (most is not None and count > most):
            wanted = str(least) if least == most else f"{least} or more"
            raise self._error(f"{name}() takes {wanted} arguments, not {count}")
        args = [self._value(arg) for arg in node.args]
        if kind is None:  # coalesce: the kind of its arguments
            kinds = {a.kind for a in args} - {"null"}
            kind = kinds.pop() if len(kinds) == 1 else "other"
        return _merge(
            f"{django_name}({', '.join(a.text for a in args)})",
            kind,
            args,
            function=django_name,
        )

    # ---------------------------------------------------------------- conditions

    def _condition(self, node: ast.expr) -> Code:
        if isinstance(node, ast.BoolOp):
            op = " & " if isinstance(node.op, ast.And) else " | "
            parts = [self._condition(value) for value in node.values]
            texts = [f"({p.text})" if p.compound else p.text for p in parts]
            return _merge(op.join(texts), "bool", parts, compound=True)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._condition(node.operand)
            text = f"~({inner.text})" if inner.compound else f"~{inner.text}"
            return _merge(text, "bool", [inner])
        if isinstance(node, ast.Compare):
            parts = []
            left = node.left
            for operator, right in zip(node.ops, node.comparators, strict=True):
                parts.append(self._comparison(left, operator, right))
                left = right
            if len(parts) == 1:
                return parts[0]
            texts = [f"({p.text})" if p.compound else p.text for p in parts]
            return _merge(" & ".join(texts), "bool", parts, compound=True)
        if isinstance(node, ast.Name):
            return self._truthy(node)
        if isinstance(node, ast.Call):
            self._check_call(node)
            return self._call_condition(node)
        raise self._error(f"{ast.unparse(node)} is not a condition")

    def _call_condition(self, node: ast.Call) -> Code:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "bool":
            if len(node.args) != 1 or node.keywords:
                raise self._error("bool() takes one field")
            (arg,) = node.args
            if not isinstance(arg, ast.Name):
                raise self._error(f"bool() takes a field name, not {ast.unparse(arg)}")
            return self._truthy(arg)
        if (
            isinstance(func, ast.Attribute)
            and func.attr in ("startswith", "endswith")
            and isinstance(func.value, ast.Name)
        ):
            f = self._field(func.value.id)
            if len(node.args) != 1 or node.keywords:
                raise self._error(f"{func.attr}() takes one string")
            value = self._constant(node.args[0])
            if not isinstance(value, str):
                raise self._error(f"{func.attr}() takes a string")
            return Code(
                f"Q({func.value.id}__{func.attr}={literal(value)})",
                "bool",
                frozenset({"Q"}),
                fields=frozenset({f.name}),
            )
        raise self._error(f"{ast.unparse(node)} is not a condition")

    def _truthy(self, node: ast.Name) -> Code:
        f = self._field(node.id)
        name, kind = node.id, field_kind(f)
        used = frozenset({f.name})
        if kind == "bool":
            return Code(f"Q({name}=True)", "bool", frozenset({"Q"}), fields=used)
        empty = {"str": '""', "num": "0"}.get(kind)
        parts = []
        if f.null:
            parts.append(f"Q({name}__isnull=False)")
        if empty is not None:
            parts.append(f"~Q({name}={empty})")
        if not parts:
            raise self._error(
                f"{name} is never empty (not nullable, not text, not a number)"
            )
        return Code(
            " & ".join(parts),
            "bool",
            frozenset({"Q"}),
            fields=used,
            compound=len(parts) > 1,
        )

    def _comparison(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> Code:
        # "x" in field: a substring test
        if isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.Name):
            value = self._constant(left)
            if not isinstance(value, str):
                raise self._error(f"{ast.unparse(left)} in a field needs a string")
            f = self._field(right.id)
            code = Code(
                f"Q({right.id}__contains={literal(value)})",
                "bool",
                frozenset({"Q"}),
                fields=frozenset({f.name}),
            )
            return self._negate(code) if isinstance(op, ast.NotIn) else code
        # constants on the left: flip, so the field comes first
        if self._is_constant(left) and isinstance(right, ast.Name):
            if type(op) not in _FLIPPED:
                raise self._error(f"cannot compare {ast.unparse(left)} this way")
            left, right, op = right, left, _FLIPPED[type(op)]()
        if isinstance(left, ast.Name):
            name = left.id
            f = self._field(name)
            used = frozenset({f.name})
            if isinstance(op, ast.Is | ast.IsNot):
                if not (isinstance(right, ast.Constant) and right.value is None):
                    raise self._error("'is' and 'is not' compare with None only")
                code = Code(
                    f"Q({name}__isnull=True)", "bool", frozenset({"Q"}), fields=used
                )
                return self._negate(code) if isinstance(op, ast.IsNot) else code
            if isinstance(op, ast.In | ast.NotIn):
                if not isinstance(right, ast.List | ast.Tuple | ast.Set):
                    raise self._error(
                        f"{name} in ... needs a list of constants, like [1, 2]"
                    )
                values = [self._constant(element) for element in right.elts]
                for value in values:
                    self._check_value(f, value)
                listed = ", ".join(literal(v) for v in values)
                code = Code(
                    f"Q({name}__in=[{listed}])", "bool", frozenset({"Q"}), fields=used
                )
                return self._negate(code) if isinstance(op, ast.NotIn) else code
            if self._is_constant(right):
                value = self._constant(right)
                self._check_value(f, value)
                if isinstance(op, ast.Eq | ast.NotEq):
                    if value is None:
                        code = Code(
                            f"Q({name}__isnull=True)",
                            "bool",
                            frozenset({"Q"}),
                            fields=used,
                        )
                    else:
                        code = Code(
                            f"Q({name}={literal(value)})",
                            "bool",
                            frozenset({"Q"}),
                            fields=used,
                        )
                    return self._negate(code) if isinstance(op, ast.NotEq) else code
                if value is None:
                    raise self._error("only == and != compare with None")
                lookup = _COMPARISONS[type(op)]
                return Code(
                    f"Q({name}__{lookup}={literal(value)})",
                    "bool",
                    frozenset({"Q"}),
                    fields=used,
                )
            if isinstance(right, ast.Name):
                other = self._field(right.id)
                both = frozenset({f.name, other.name})
                if isinstance(op, ast.Eq | ast.NotEq):
                    code = Code(
                        f'Q({name}=F("{right.id}"))',
                        "bool",
                        frozenset({"Q", "F"}),
                        fields=both,
                    )
                    return self._negate(code) if isinstance(op, ast.NotEq) else code
                lookup = _COMPARISONS[type(op)]
                return Code(
                    f'Q({name}__{lookup}=F("{right.id}"))',
                    "bool",
                    frozenset({"Q", "F"}),
                    fields=both,
                )
        # general case: a lookup between two values, e.g. len(name) > 3
        if isinstance(op, ast.Eq | ast.NotEq) or type(op) in _COMPARISONS:
            lhs, rhs = self._value(left), self._value(right)
            lookup_class = _LOOKUP_CLASSES[
                ast.Eq if isinstance(op, ast.NotEq) else type(op)
            ]
            code = _merge(
                f"Q({lookup_class}({lhs.text}, {rhs.text}))",
                "bool",
                [lhs, rhs],
                name="Q",
                lookup=lookup_class,
            )
            return self._negate(code) if isinstance(op, ast.NotEq) else code
        raise self._error(f"{ast.unparse(left)} cannot be compared this way")

    @staticmethod
    def _negate(code: Code) -> Code:
        text = f"~({code.text})" if code.compound else f"~{code.text}"
        return Code(
            text, "bool", code.names, code.functions, code.lookups, code.fields, False
        )


def translator(
    fields: Iterable[Field[Any, Any]], describe: str, option: str
) -> Translator:
    """A translator over ``fields`` (usable by name and by attname)."""
    names: dict[str, Field[Any, Any]] = {}
    for f in fields:
        names[f.name] = f
        names.setdefault(f.attname, f)
    return Translator(names, describe, option)
