"""Conditions of the expression language (``--filter``, and tests in values).

:class:`Conditions` turns a condition into the source of a ``Q`` object;
it is the base of :class:`~.expressions.Translator`, which adds the values
(a general comparison, ``len(name) > 3``, compares two values).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, replace
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Field

from migration_guard.datamigrations.language import (
    COMPARISONS,
    FLIPPED,
    FUNCTIONS,
    LOOKUP_CLASSES,
    METHODS,
    SYNTAX_HELP,
    Code,
    field_kind,
    literal,
    merge,
    negate,
    q,
)
from migration_guard.exceptions import UsageError


@dataclass
class Conditions:
    """Translates the conditions of one expression for one model.

    ``fields`` maps the names usable in expressions (field names and
    attnames of the model's concrete fields) to the fields; ``describe`` names
    the model in error messages.
    """

    fields: dict[str, Field[Any, Any]]
    describe: str
    option: str = "--expression"
    source: str = ""

    def _value(self, node: ast.expr) -> Code:
        raise NotImplementedError

    # ---------------------------------------------------------------- helpers

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

    def _check_call(self, node: ast.Call) -> None:
        """Only the functions and methods of the language can be called."""
        func = node.func
        if isinstance(func, ast.Name) and (func.id in FUNCTIONS or func.id == "bool"):
            return
        if (
            isinstance(func, ast.Attribute)
            and func.attr in METHODS
            and isinstance(func.value, ast.Name)
        ):
            return
        raise self._error(f"{ast.unparse(node)} is not supported")

    # ---------------------------------------------------------------- conditions

    def _condition(self, node: ast.expr) -> Code:
        if isinstance(node, ast.BoolOp):
            op = " & " if isinstance(node.op, ast.And) else " | "
            parts = [self._condition(value) for value in node.values]
            text = op.join(p.operand for p in parts)
            return merge(text, "bool", parts, compound=True)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            inner = self._condition(node.operand)
            return merge(f"~{inner.operand}", "bool", [inner])
        if isinstance(node, ast.Compare):
            return self._compare(node)
        if isinstance(node, ast.Name):
            return self._truthy(node)
        if isinstance(node, ast.Call):
            self._check_call(node)
            return self._call_condition(node)
        raise self._error(f"{ast.unparse(node)} is not a condition")

    def _compare(self, node: ast.Compare) -> Code:
        """``a < b < c``: one comparison per operator, and-ed."""
        parts = []
        left = node.left
        for operator, right in zip(node.ops, node.comparators, strict=True):
            parts.append(self._comparison(left, operator, right))
            left = right
        if len(parts) == 1:
            return parts[0]
        text = " & ".join(p.operand for p in parts)
        return merge(text, "bool", parts, compound=True)

    def _call_condition(self, node: ast.Call) -> Code:
        func = node.func
        if isinstance(func, ast.Name) and func.id == "bool":
            if len(node.args) != 1 or node.keywords:
                raise self._error("bool() takes one field")
            (arg,) = node.args
            if not isinstance(arg, ast.Name):
                raise self._error(f"bool() takes a field name, not {ast.unparse(arg)}")
            return self._truthy(arg)
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
            f = self._field(func.value.id)
            if len(node.args) != 1 or node.keywords:
                raise self._error(f"{func.attr}() takes one string")
            value = self._constant(node.args[0])
            if not isinstance(value, str):
                raise self._error(f"{func.attr}() takes a string")
            return q(f"Q({func.value.id}__{func.attr}={literal(value)})", f.name)
        raise self._error(f"{ast.unparse(node)} is not a condition")

    def _truthy(self, node: ast.Name) -> Code:
        """A field as a condition: not NULL and not empty."""
        f = self._field(node.id)
        name, kind = node.id, field_kind(f)
        if kind == "bool":
            return q(f"Q({name}=True)", f.name)
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
        return replace(q(" & ".join(parts), f.name), compound=len(parts) > 1)

    # ---------------------------------------------------------------- comparisons

    def _comparison(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> Code:
        if isinstance(op, ast.In | ast.NotIn) and isinstance(right, ast.Name):
            return self._substring(left, op, right)
        # constants on the left: flip, so the field comes first
        if self._is_constant(left) and isinstance(right, ast.Name):
            if type(op) not in FLIPPED:
                raise self._error(f"cannot compare {ast.unparse(left)} this way")
            left, right, op = right, left, FLIPPED[type(op)]()
        if isinstance(left, ast.Name):
            code = self._field_comparison(left, op, right)
            if code is not None:
                return code
        return self._lookup(left, op, right)

    def _substring(self, left: ast.expr, op: ast.cmpop, right: ast.Name) -> Code:
        """``"x" in field``."""
        value = self._constant(left)
        if not isinstance(value, str):
            raise self._error(f"{ast.unparse(left)} in a field needs a string")
        f = self._field(right.id)
        code = q(f"Q({right.id}__contains={literal(value)})", f.name)
        return negate(code, isinstance(op, ast.NotIn))

    def _field_comparison(
        self, left: ast.Name, op: ast.cmpop, right: ast.expr
    ) -> Code | None:
        """A field compared with None, a list, a constant or another field;
        None when ``right`` is none of these (a general lookup)."""
        name, f = left.id, self._field(left.id)
        if isinstance(op, ast.Is | ast.IsNot):
            if not (isinstance(right, ast.Constant) and right.value is None):
                raise self._error("'is' and 'is not' compare with None only")
            code = q(f"Q({name}__isnull=True)", f.name)
            return negate(code, isinstance(op, ast.IsNot))
        if isinstance(op, ast.In | ast.NotIn):
            return self._membership(left, f, op, right)
        if self._is_constant(right):
            return self._with_constant(name, f, op, self._constant(right))
        if isinstance(right, ast.Name):
            other = self._field(right.id)
            target = f'F("{right.id}")'
            if isinstance(op, ast.Eq | ast.NotEq):
                code = q(f"Q({name}={target})", f.name, other.name, names=["F"])
                return negate(code, isinstance(op, ast.NotEq))
            lookup = COMPARISONS[type(op)]
            return q(f"Q({name}__{lookup}={target})", f.name, other.name, names=["F"])
        return None

    def _membership(
        self, left: ast.Name, f: Field[Any, Any], op: ast.cmpop, right: ast.expr
    ) -> Code:
        """``field in [constants]``."""
        if not isinstance(right, ast.List | ast.Tuple | ast.Set):
            raise self._error(
                f"{left.id} in ... needs a list of constants, like [1, 2]"
            )
        values = [self._constant(element) for element in right.elts]
        for value in values:
            self._check_value(f, value)
        listed = ", ".join(literal(v) for v in values)
        code = q(f"Q({left.id}__in=[{listed}])", f.name)
        return negate(code, isinstance(op, ast.NotIn))

    def _with_constant(
        self, name: str, f: Field[Any, Any], op: ast.cmpop, value: Any
    ) -> Code:
        self._check_value(f, value)
        if isinstance(op, ast.Eq | ast.NotEq):
            if value is None:
                code = q(f"Q({name}__isnull=True)", f.name)
            else:
                code = q(f"Q({name}={literal(value)})", f.name)
            return negate(code, isinstance(op, ast.NotEq))
        if value is None:
            raise self._error("only == and != compare with None")
        return q(f"Q({name}__{COMPARISONS[type(op)]}={literal(value)})", f.name)

    def _lookup(self, left: ast.expr, op: ast.cmpop, right: ast.expr) -> Code:
        """The general case: a lookup between two values, e.g. len(name) > 3."""
        if not (isinstance(op, ast.Eq | ast.NotEq) or type(op) in COMPARISONS):
            raise self._error(f"{ast.unparse(left)} cannot be compared this way")
        lhs, rhs = self._value(left), self._value(right)
        lookup_class = LOOKUP_CLASSES[ast.Eq if isinstance(op, ast.NotEq) else type(op)]
        code = merge(
            f"Q({lookup_class}({lhs.text}, {rhs.text}))",
            "bool",
            [lhs, rhs],
            name="Q",
            lookup=lookup_class,
        )
        return negate(code, isinstance(op, ast.NotEq))
