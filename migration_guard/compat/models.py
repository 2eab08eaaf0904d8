"""Django's model internals: ``Options``, field defaults, many-to-many tables.

Checked on Django 5.2, 6.0 and 6.1 (each name says what it relies on);
``tests/test_compat.py`` compares each with Django's own result on real
migrations.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.apps.registry import Apps
from django.db.backends.base.schema import BaseDatabaseSchemaEditor
from django.db.models.options import Options as _DjangoOptions

if TYPE_CHECKING:
    Options = _DjangoOptions[Any]
else:
    #: ``django.db.models.options.Options``, to subclass. Undocumented class;
    #: checked on Django 5.2, 6.0, 6.1: ``Options(meta, app_label)``,
    #: ``contribute_to_class(cls, name)`` reads ``cls.Meta``, and
    #: ``related_objects`` is a cached property a subclass may override with
    #: a plain property (Django reads it as an attribute only).
    Options = _DjangoOptions


def effective_default(field: Any) -> Any:
    """The Python value a new NOT NULL column of ``field`` is filled with.

    ``BaseDatabaseSchemaEditor._effective_default(field)``: the field's
    default, else ``""``/``b""`` for a blank-able text field that is not
    empty-strings-allowed-null, ``now`` for ``auto_now(_add)`` fields, else
    ``None``; before ``get_db_prep_save``, so no connection is needed.
    Checked on Django 5.2, 6.0, 6.1: a private static method, same body.
    """
    return BaseDatabaseSchemaEditor._effective_default(field)  # type: ignore[attr-defined]


def m2m_db_table(field: Any, opts: Any) -> str:
    """The table of the many-to-many ``field`` declared on the model of ``opts``.

    ``ManyToManyField._get_m2m_db_table(opts)``, what ``contribute_to_class``
    curries into ``field.m2m_db_table``: the through model's table, else
    ``db_table``, else ``<model table>_<field name>`` truncated to the
    default connection's ``max_name_length()``. Checked on Django 5.2, 6.0,
    6.1: private, same body; callable before the field is bound to a class.
    """
    return str(field._get_m2m_db_table(opts))


def isolated_apps() -> Apps:
    """A registry for ``Meta.apps``: a model class there is not a project model.

    ``Meta.apps`` (``Options.apps``) is undocumented; Django's own
    migrations state and tests set it. A model declared with it is not in
    ``django.apps.apps``, so ``makemigrations`` and ``migrate`` never see it.
    Checked on Django 5.2, 6.0, 6.1.
    """
    return Apps()
