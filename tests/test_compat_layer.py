"""``migration_guard.compat`` stays the only module that names Django's private API.

An AST scan of the package: no module outside ``migration_guard/compat/``
imports a ``_``-prefixed name from Django, reads a ``_``-prefixed attribute
Django defines (directly or through ``getattr``), or overrides a
``_``-prefixed method in a subclass of a Django class. The allow-list is
:data:`DOCUMENTED`: underscored names Django documents.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from pathlib import Path

import django

import migration_guard

PACKAGE = Path(migration_guard.__file__).parent
COMPAT = PACKAGE / "compat"
#: documented, though underscored: the ``Model._meta`` API and the managers
#: (https://docs.djangoproject.com/en/stable/ref/models/meta/,
#: .../topics/db/managers/#base-managers)
DOCUMENTED = {"_meta", "_base_manager", "_default_manager"}


def _private_names(paths: Iterable[Path]) -> set[str]:
    """``_``-prefixed names modules define: functions, classes, attributes."""
    names: set[str] = set()
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
            elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
                names.add(node.attr)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                names.add(node.id)
    return {
        name
        for name in names
        if name.startswith("_") and len(name) > 1 and not name.startswith("__")
    }


def _django_bases(tree: ast.Module) -> set[str]:
    """Names imported from Django in a module (its possible base classes)."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "django"
        ):
            found |= {alias.asname or alias.name for alias in node.names}
    return found


def _uses(source: str, where: str, django_private: set[str]) -> list[str]:
    """Where ``source`` names one of ``django_private`` or a private Django import."""
    tree = ast.parse(source, where)
    found = []
    django_names = _django_bases(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith(
            "django"
        ):
            found += [
                f"{where}:{node.lineno} imports {alias.name}"
                for alias in node.names
                if alias.name.startswith("_")
            ]
        elif isinstance(node, ast.Attribute) and node.attr in django_private:
            found.append(f"{where}:{node.lineno} .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr", "setattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in django_private
        ):
            found.append(f"{where}:{node.lineno} '{node.args[1].value}'")
        elif isinstance(node, ast.ClassDef) and any(
            isinstance(base, ast.Name) and base.id in django_names
            for base in node.bases
        ):
            found += [
                f"{where}:{item.lineno} overrides {item.name}"
                for item in node.body
                if isinstance(item, ast.FunctionDef)
                and item.name.startswith("_")
                and not item.name.startswith("__")
            ]
    return found


def _outside_compat() -> list[Path]:
    return [p for p in sorted(PACKAGE.rglob("*.py")) if COMPAT not in p.parents]


def _django_private() -> set[str]:
    return _private_names(Path(django.__file__).parent.rglob("*.py"))


def test_no_module_outside_compat_names_a_private_django_attribute() -> None:
    modules = _outside_compat()
    # a name the package defines too (``_apply``, ``_parse``) is the package's
    # own where it uses it: only compat may use Django's
    watched = _django_private() - _private_names(modules) - DOCUMENTED
    offenders = [
        use
        for path in modules
        for use in _uses(path.read_text(), str(path.relative_to(PACKAGE)), watched)
    ]
    assert offenders == []


def test_the_scan_finds_a_private_django_attribute() -> None:
    """The scan above would see each kind of use it looks for."""
    source = (
        "from django.db.models.options import Options\n"
        "from django.db.migrations.executor import _private\n"
        "state = executor._create_project_state(True)\n"
        "called = getattr(command, '_called_from_command_line', False)\n"
        "class Mine(Options):\n"
        "    def _expire_cache(self):\n"
        "        pass\n"
    )
    assert sorted(_uses(source, "probe.py", _django_private() - DOCUMENTED)) == [
        "probe.py:2 imports _private",
        "probe.py:3 ._create_project_state",
        "probe.py:4 '_called_from_command_line'",
        "probe.py:6 overrides _expire_cache",
    ]
