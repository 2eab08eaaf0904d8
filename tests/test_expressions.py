"""The expression language of ``--expression`` and ``--filter``: exact translations.

Pure: fields are built unbound (no model, no database), as the migration state
hands them to the translator.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import Permission
from django.db import models

from migration_guard.datamigrations.expressions import SYNTAX_HELP, translator
from migration_guard.exceptions import UsageError


def bound(name: str, field: models.Field[Any, Any]) -> models.Field[Any, Any]:
    field.set_attributes_from_name(name)
    return field


FIELDS = [
    bound("name", models.CharField(max_length=20)),
    bound("nickname", models.CharField(max_length=20, null=True)),
    bound("price", models.DecimalField(max_digits=5, decimal_places=2)),
    bound("stock", models.IntegerField(null=True)),
    bound("active", models.BooleanField(default=False)),
    bound("born", models.DateField(null=True)),
]

MODELS = "from django.db.models import "
FUNCTIONS = "from django.db.models.functions import "
LOOKUPS = "from django.db.models.lookups import "

# source -> (text, kind, imports, fields read)
VALUES = {
    "name": (
        'F("name")',
        "str",
        {MODELS + "F"},
        {"name"},
    ),
    "'x'": (
        'Value("x")',
        "str",
        {MODELS + "Value"},
        set(),
    ),
    '"it\'s"': (
        'Value("it\'s")',
        "str",
        {MODELS + "Value"},
        set(),
    ),
    "3": (
        "Value(3)",
        "num",
        {MODELS + "Value"},
        set(),
    ),
    "-2.5": (
        "Value(-2.5)",
        "num",
        {MODELS + "Value"},
        set(),
    ),
    "True": (
        "Value(True)",
        "bool",
        {MODELS + "Value"},
        set(),
    ),
    "None": (
        "Value(None)",
        "null",
        {MODELS + "Value"},
        set(),
    ),
    "price * 2": (
        'F("price") * Value(2)',
        "num",
        {MODELS + "F, Value"},
        {"price"},
    ),
    "-price": (
        '-F("price")',
        "num",
        {MODELS + "F"},
        {"price"},
    ),
    "-(price + 1)": (
        '-(F("price") + Value(1))',
        "num",
        {MODELS + "F, Value"},
        {"price"},
    ),
    "price + stock - 1": (
        '(F("price") + F("stock")) - Value(1)',
        "num",
        {MODELS + "F, Value"},
        {"stock", "price"},
    ),
    "name + ' ' + nickname": (
        'Concat(F("name"), Value(" "), F("nickname"))',
        "str",
        {MODELS + "F, Value", FUNCTIONS + "Concat"},
        {"name", "nickname"},
    ),
    "upper(name)": (
        'Upper(F("name"))',
        "str",
        {MODELS + "F", FUNCTIONS + "Upper"},
        {"name"},
    ),
    "len(name)": (
        'Length(F("name"))',
        "num",
        {MODELS + "F", FUNCTIONS + "Length"},
        {"name"},
    ),
    "coalesce(nickname, name)": (
        'Coalesce(F("nickname"), F("name"))',
        "str",
        {MODELS + "F", FUNCTIONS + "Coalesce"},
        {"name", "nickname"},
    ),
    "coalesce(stock, 0)": (
        'Coalesce(F("stock"), Value(0))',
        "num",
        {MODELS + "F, Value", FUNCTIONS + "Coalesce"},
        {"stock"},
    ),
    "concat(name, '-', nickname)": (
        'Concat(F("name"), Value("-"), F("nickname"))',
        "str",
        {MODELS + "F, Value", FUNCTIONS + "Concat"},
        {"name", "nickname"},
    ),
    "replace(name, 'a', 'b')": (
        'Replace(F("name"), Value("a"), Value("b"))',
        "str",
        {MODELS + "F, Value", FUNCTIONS + "Replace"},
        {"name"},
    ),
    "abs(price)": (
        'Abs(F("price"))',
        "num",
        {MODELS + "F", FUNCTIONS + "Abs"},
        {"price"},
    ),
    "stock if active else 0": (
        'Case(When(Q(active=True), then=F("stock")), default=Value(0))',
        "num",
        {MODELS + "Case, F, Q, Value, When"},
        {"stock", "active"},
    ),
    "None if active else name": (
        'Case(When(Q(active=True), then=Value(None)), default=F("name"))',
        "str",
        {MODELS + "Case, F, Q, Value, When"},
        {"name", "active"},
    ),
    "bool(nickname)": (
        'Case(When(Q(nickname__isnull=False) & ~Q(nickname=""),'
        " then=Value(True)), default=Value(False))",
        "bool",
        {MODELS + "Case, Q, Value, When"},
        {"nickname"},
    ),
    "price > 3 and active": (
        "Case(When(Q(price__gt=3) & Q(active=True),"
        " then=Value(True)), default=Value(False))",
        "bool",
        {MODELS + "Case, Q, Value, When"},
        {"price", "active"},
    ),
    "lower(name) == 'x'": (
        'Case(When(Q(Exact(Lower(F("name")), Value("x"))),'
        " then=Value(True)), default=Value(False))",
        "bool",
        {MODELS + "Case, F, Q, Value, When", FUNCTIONS + "Lower", LOOKUPS + "Exact"},
        {"name"},
    ),
    "len(name) != 3": (
        'Case(When(~Q(Exact(Length(F("name")), Value(3))),'
        " then=Value(True)), default=Value(False))",
        "bool",
        {MODELS + "Case, F, Q, Value, When", FUNCTIONS + "Length", LOOKUPS + "Exact"},
        {"name"},
    ),
    "len(name) < stock": (
        'Case(When(Q(LessThan(Length(F("name")), F("stock"))),'
        " then=Value(True)), default=Value(False))",
        "bool",
        {
            MODELS + "Case, F, Q, Value, When",
            FUNCTIONS + "Length",
            LOOKUPS + "LessThan",
        },
        {"name", "stock"},
    ),
}

VALUES_ERRORS = {
    "": "it is empty",
    "name(": "it is not valid syntax ('(' was never closed)",
    "foo": (
        "shop.Item has no field 'foo' in its migration state. Its"
        " fields: active, born, name, nickname, price, stock."
    ),
    "name * 2": "text supports + only: name * 2",
    "-name": "cannot negate name",
    "upper(name, name)": "upper() takes 1 argument, not 2",
    "coalesce(name)": "coalesce() takes 2 or more arguments, not 1",
    "upper(x=name)": "upper() takes no keyword arguments",
    "name.upper()": "name.upper() is not supported",
    "[1]": "[1] is not supported",
    "print(1)": "print(1) is not supported",
    "lambda: 1": "lambda: 1 is not supported",
}


# source -> (text, kind, imports, fields read)
CONDITIONS = {
    "active": (
        "Q(active=True)",
        "bool",
        {MODELS + "Q"},
        {"active"},
    ),
    "nickname": (
        'Q(nickname__isnull=False) & ~Q(nickname="")',
        "bool",
        {MODELS + "Q"},
        {"nickname"},
    ),
    "name": (
        '~Q(name="")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "stock": (
        "Q(stock__isnull=False) & ~Q(stock=0)",
        "bool",
        {MODELS + "Q"},
        {"stock"},
    ),
    "bool(stock)": (
        "Q(stock__isnull=False) & ~Q(stock=0)",
        "bool",
        {MODELS + "Q"},
        {"stock"},
    ),
    "not active": (
        "~Q(active=True)",
        "bool",
        {MODELS + "Q"},
        {"active"},
    ),
    "active and stock > 1": (
        "Q(active=True) & Q(stock__gt=1)",
        "bool",
        {MODELS + "Q"},
        {"stock", "active"},
    ),
    "active or not nickname": (
        'Q(active=True) | ~(Q(nickname__isnull=False) & ~Q(nickname=""))',
        "bool",
        {MODELS + "Q"},
        {"nickname", "active"},
    ),
    "name == 'x'": (
        'Q(name="x")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "name != 'x'": (
        '~Q(name="x")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "nickname == None": (
        "Q(nickname__isnull=True)",
        "bool",
        {MODELS + "Q"},
        {"nickname"},
    ),
    "nickname != None": (
        "~Q(nickname__isnull=True)",
        "bool",
        {MODELS + "Q"},
        {"nickname"},
    ),
    "nickname is None": (
        "Q(nickname__isnull=True)",
        "bool",
        {MODELS + "Q"},
        {"nickname"},
    ),
    "nickname is not None": (
        "~Q(nickname__isnull=True)",
        "bool",
        {MODELS + "Q"},
        {"nickname"},
    ),
    "stock < 5": (
        "Q(stock__lt=5)",
        "bool",
        {MODELS + "Q"},
        {"stock"},
    ),
    "stock >= 5": (
        "Q(stock__gte=5)",
        "bool",
        {MODELS + "Q"},
        {"stock"},
    ),
    "5 > stock": (
        "Q(stock__lt=5)",
        "bool",
        {MODELS + "Q"},
        {"stock"},
    ),
    "'a' == name": (
        'Q(name="a")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "stock > price": (
        'Q(stock__gt=F("price"))',
        "bool",
        {MODELS + "F, Q"},
        {"stock", "price"},
    ),
    "name == nickname": (
        'Q(name=F("nickname"))',
        "bool",
        {MODELS + "F, Q"},
        {"name", "nickname"},
    ),
    "name != nickname": (
        '~Q(name=F("nickname"))',
        "bool",
        {MODELS + "F, Q"},
        {"name", "nickname"},
    ),
    "name in ['a', 'b']": (
        'Q(name__in=["a", "b"])',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "name not in ('a',)": (
        '~Q(name__in=["a"])',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "'ab' in name": (
        'Q(name__contains="ab")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "'ab' not in name": (
        '~Q(name__contains="ab")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "name.startswith('A')": (
        'Q(name__startswith="A")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "name.endswith('z')": (
        'Q(name__endswith="z")',
        "bool",
        {MODELS + "Q"},
        {"name"},
    ),
    "1 < stock < 5": (
        "Q(stock__gt=1) & Q(stock__lt=5)",
        "bool",
        {MODELS + "Q"},
        {"stock"},
    ),
    "born >= '2024-01-01'": (
        'Q(born__gte="2024-01-01")',
        "bool",
        {MODELS + "Q"},
        {"born"},
    ),
    "len(name) > 3": (
        'Q(GreaterThan(Length(F("name")), Value(3)))',
        "bool",
        {MODELS + "F, Q, Value", FUNCTIONS + "Length", LOOKUPS + "GreaterThan"},
        {"name"},
    ),
    "price": (
        "~Q(price=0)",
        "bool",
        {MODELS + "Q"},
        {"price"},
    ),
    "born": (
        "Q(born__isnull=False)",
        "bool",
        {MODELS + "Q"},
        {"born"},
    ),
}

CONDITIONS_ERRORS = {
    "born == 'nope'": (
        "'nope' is not a valid value of shop.Item.born (DateField):"
        " “nope” value has an invalid date format. It must be in YYYY-MM-DD format."
    ),
    "stock in [1, 'x']": (
        "'x' is not a valid value of shop.Item.stock (IntegerField):"
        " “x” value must be an integer."
    ),
    "stock is 3": "'is' and 'is not' compare with None only",
    "stock < None": "only == and != compare with None",
    "stock in stock": "stock is not a constant",
    "3 in name": "3 in a field needs a string",
    "'a' is name": "cannot compare 'a' this way",
    "name.startswith(1)": "startswith() takes a string",
    "name.startswith('a', 'b')": "startswith() takes one string",
    "bool(1)": "bool() takes a field name, not 1",
    "bool(name, name)": "bool() takes one field",
    "1": "1 is not a condition",
    "name.lower()": "name.lower() is not supported",
    "stock + 1": "stock + 1 is not a condition",
    "name in 'abc'": "name in ... needs a list of constants, like [1, 2]",
}


def check(code: Any, expected: tuple[str, str, set[str], set[str]]) -> None:
    assert (code.text, code.kind, code.imports(), set(code.fields)) == expected


@pytest.mark.parametrize("source", list(VALUES))
def test_value(source: str) -> None:
    check(translator(FIELDS, "shop.Item", "--expression").value(source), VALUES[source])


@pytest.mark.parametrize("source", list(CONDITIONS))
def test_condition(source: str) -> None:
    code = translator(FIELDS, "shop.Item", "--filter").condition(source)
    check(code, CONDITIONS[source])


@pytest.mark.parametrize("source", list(VALUES_ERRORS))
def test_value_error(source: str) -> None:
    with pytest.raises(UsageError) as caught:
        translator(FIELDS, "shop.Item", "--expression").value(source)
    assert str(caught.value) == expected_error("--expression", source, VALUES_ERRORS)


@pytest.mark.parametrize("source", list(CONDITIONS_ERRORS))
def test_condition_error(source: str) -> None:
    with pytest.raises(UsageError) as caught:
        translator(FIELDS, "shop.Item", "--filter").condition(source)
    assert str(caught.value) == expected_error("--filter", source, CONDITIONS_ERRORS)


def expected_error(option: str, source: str, errors: dict[str, str]) -> str:
    why = errors[source]
    if "has no field" in why:  # the field list is the help
        return f"{option} {source!r}: {why}"
    return f"{option} {source!r}: {why}. {SYNTAX_HELP}"


def test_fields_are_usable_by_attname() -> None:
    content_type = Permission._meta.get_field("content_type")
    code = translator([content_type], "auth.Permission", "--filter").condition(
        "content_type_id == 3"
    )
    assert (code.text, set(code.fields)) == ("Q(content_type_id=3)", {"content_type"})


def test_syntax_help_lists_every_function() -> None:
    assert SYNTAX_HELP.endswith(
        "and the functions abs, bool, coalesce, concat, len, length, lower, "
        "replace, trim, upper."
    )
