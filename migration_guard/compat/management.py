"""Django's management command internals: output streams, how a command was called.

Checked on Django 5.2, 6.0 and 6.1; ``tests/test_compat.py`` compares each
with Django's own behaviour through real commands.
"""

from __future__ import annotations

import argparse
import weakref
from typing import Any


def raw_stream(stream: Any) -> Any:
    """The file under a command's ``OutputWrapper`` (``stream`` itself otherwise).

    ``OutputWrapper._out``: writing there adds no line ending and no style
    (``OutputWrapper.write`` adds both), for progress lines and prompts.
    Checked on Django 5.2, 6.0, 6.1: ``OutputWrapper.__init__`` keeps the
    wrapped file as ``_out`` and delegates unknown attributes to it.
    """
    return getattr(stream, "_out", stream)


def called_from_command_line(command: Any) -> bool:
    """Whether ``command`` runs from ``manage.py`` (not ``call_command``).

    ``BaseCommand._called_from_command_line``: a class attribute ``False``,
    set to ``True`` by ``run_from_argv``. Checked on Django 5.2, 6.0, 6.1.
    """
    return bool(getattr(command, "_called_from_command_line", False))


def parser_actions(parser: argparse.ArgumentParser) -> list[argparse.Action]:
    """The arguments ``parser`` has, to change the ones a parent command added.

    ``ArgumentParser._actions`` (argparse, which Django's ``CommandParser``
    subclasses; Django's own ``call_command`` reads it too). Checked on
    Python 3.11-3.13 with Django 5.2, 6.0, 6.1.
    """
    return list(parser._actions)


def import_management_packages() -> None:
    """Import every installed app's ``management`` package, as ``migrate``
    does when it starts (``Command.handle``): apps connect ``post_migrate``
    receivers there (django-guardian does), so before this they are not
    connected, and what reads the receivers ahead of ``migrate`` (the scope
    of the pre-run backup, ``manage.py check``) would not see them."""
    from importlib import import_module

    from django.apps import apps
    from django.utils.module_loading import module_has_submodule

    for app_config in apps.get_app_configs():
        if module_has_submodule(app_config.module, "management"):
            import_module(".management", app_config.name)


def signal_receivers(signal: Any) -> list[Any]:
    """The functions connected to ``signal`` (dead weak references left out).

    ``Signal.receivers``: a list of ``(lookup key, receiver or weak
    reference, is_async)`` (Django 5.0+); a weak reference is called to get
    the function. Undocumented but not underscored; checked on Django 5.2,
    6.0, 6.1 (``tests/test_compat.py``).
    """
    found = []
    for entry in signal.receivers:
        receiver = entry[1]
        if isinstance(receiver, weakref.ReferenceType):
            receiver = receiver()
        if receiver is not None:
            found.append(receiver)
    return found


def retype_action(action: argparse.Action, kind: type[argparse.Action]) -> None:
    """Make ``action`` (a parent command's) act as ``kind`` keeping its option.

    ``kind`` must only override ``__call__``: the attributes argparse set on
    ``action`` (``dest``, ``default``, ``option_strings``) stay. argparse has
    no public way to replace an option a parent parser added (its conflict
    handler is copied into each argument group when the group is made).
    """
    action.__class__ = kind
