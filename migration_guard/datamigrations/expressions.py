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
from typing import Any

from django.db.models import Field

from migration_guard.datamigrations.conditions import Conditions
from migration_guard.datamigrations.language import (
    ARITHMETIC,
    FUNCTIONS,
    Code,
    constant_kind,
    field_kind,
    literal,
    merge,
)
from migration_guard.datamigrations.language import SYNTAX_HELP as SYNTAX_HELP


class Translator(Conditions):
    """Translates one expression for one model: values, and (from
    :class:`~.conditions.Conditions`) conditions."""

    # ---------------------------------------------------------------- entry points

    def value(self, text: str) -> Code:
        return self._value(self._parse(text))

    def condition(self, text: str) -> Code:
        return self._condition(self._parse(text))

    def _parse(self, text: str) -> ast.expr:
        self.source = text
        if not text.strip():
            raise self._error("it is empty")
        try:
            tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as exc:
            raise self._error(f"it is not valid syntax ({exc.msg})") from None
        return tree.body

    # ---------------------------------------------------------------- values

    def _value(self, node: ast.expr) -> Code:
        if self._is_constant(node):
            value = self._constant(node)
            return Code(
                f"Value({literal(value)})", constant_kind(value), frozenset({"Value"})
            )
        if isinstance(node, ast.Name):
            f = self._field(node.id)
            return Code(
                f'F("{node.id}")',
                field_kind(f),
                frozenset({"F"}),
                fields=frozenset({f.name}),
            )
        if isinstance(node, ast.BinOp) and type(node.op) in ARITHMETIC:
            return self._arithmetic(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self._negative(node)
        if isinstance(node, ast.IfExp):
            return self._if(node)
        if isinstance(node, ast.Call):
            self._check_call(node)
            if isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
                return self._function(node, node.func.id)
        if isinstance(node, ast.Compare | ast.BoolOp | ast.Call) or (
            isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)
        ):
            test = self._condition(node)
            return merge(
                f"Case(When({test.text}, then=Value(True)), default=Value(False))",
                "bool",
                [test],
                name="Case",
            ).using("When", "Value")
        raise self._error(f"{ast.unparse(node)} is not supported")

    def _negative(self, node: ast.UnaryOp) -> Code:
        operand = self._value(node.operand)
        if operand.kind not in ("num", "other"):
            raise self._error(f"cannot negate {ast.unparse(node.operand)}")
        return merge(f"-{operand.operand}", operand.kind, [operand])

    def _if(self, node: ast.IfExp) -> Code:
        test = self._condition(node.test)
        body, orelse = self._value(node.body), self._value(node.orelse)
        kind = body.kind if body.kind != "null" else orelse.kind
        return merge(
            f"Case(When({test.text}, then={body.text}), default={orelse.text})",
            kind,
            [test, body, orelse],
            name="Case",
        ).using("When")

    def _arithmetic(self, node: ast.BinOp) -> Code:
        left, right = self._value(node.left), self._value(node.right)
        if "str" in (left.kind, right.kind):
            return self._joined(node, left, right)
        for part, side in ((left, node.left), (right, node.right)):
            if part.kind not in ("num", "other"):
                raise self._error(
                    f"{ast.unparse(side)} is not a number in {ast.unparse(node)}"
                )
        op = ARITHMETIC[type(node.op)]
        kind = "num" if left.kind == right.kind == "num" else "other"
        text = f"{left.operand} {op} {right.operand}"
        return merge(text, kind, [left, right], compound=True)

    def _joined(self, node: ast.BinOp, left: Code, right: Code) -> Code:
        """Text + text: one Concat of every part."""
        if not isinstance(node.op, ast.Add):
            raise self._error(f"text supports + only: {ast.unparse(node)}")
        parts = []
        for part in (left, right):
            if part.text.startswith("Concat(") and part.text.endswith(")"):
                parts.append(part.text[len("Concat(") : -1])
            else:
                parts.append(part.text)
        text = f"Concat({', '.join(parts)})"
        return merge(text, "str", [left, right], function="Concat")

    def _function(self, node: ast.Call, name: str) -> Code:
        django_name, least, most, kind = FUNCTIONS[name]
        if node.keywords:
            raise self._error(f"{name}() takes no keyword arguments")
        count = len(node.args)
        if count < least or (most is not None and count > most):
            wanted = str(least) if least == most else f"{least} or more"
            plural = "" if wanted == "1" else "s"
            raise self._error(f"{name}() takes {wanted} argument{plural}, not {count}")
        args = [self._value(arg) for arg in node.args]
        if kind is None:  # coalesce: the kind of its arguments
            kinds = {a.kind for a in args} - {"null"}
            kind = kinds.pop() if len(kinds) == 1 else "other"
        return merge(
            f"{django_name}({', '.join(a.text for a in args)})",
            kind,
            args,
            function=django_name,
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
