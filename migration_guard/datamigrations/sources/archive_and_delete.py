"""Template source of archive_and_delete (rows.ArchiveAndDelete)."""

from django.apps.registry import Apps
from django.db import models

from migration_guard.datamigrations.sources.move_in_batches import move_in_batches
from migration_guard.datamigrations.sources.names import CONDITION

# ---- generated code ----
# Created by the schema migration before this one, outside the migration
# state (models.py needs no model for it). Drop it in a later migration once
# the archived rows are no longer needed.
ARCHIVE_TABLE = "__TABLE__"
# __CONDITION__


def forwards(apps, schema_editor):
    """Copy each __MODEL____MATCHING__ into ARCHIVE_TABLE as JSON, then
    delete it."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    alias = schema_editor.connection.alias
    rows = __MODEL__._base_manager.using(alias)
    if CONDITION is not None:
        rows = rows.filter(CONDITION)
    archive = archive_model(__MODEL__)._base_manager.using(alias)

    def convert(obj):
        return archive.model(object_pk=str(obj.pk), data=row_as_json(obj))

    move_in_batches(rows, convert, archive, "forwards")


def backwards(apps, schema_editor):
    """Put every archived __MODEL__ back, with its primary key; empty the archive."""
    __MODEL__ = apps.get_model("__APP_LABEL__", "__MODEL__")
    alias = schema_editor.connection.alias
    archive = archive_model(__MODEL__)._base_manager.using(alias)
    restored = __MODEL__._base_manager.using(alias)

    def convert(record):
        return row_from_json(__MODEL__, record.data)

    move_in_batches(archive, convert, restored, "backwards")


def archive_model(model):
    """A model for ARCHIVE_TABLE, registered apart from every app registry."""

    class Meta:
        apps = Apps()
        app_label = model._meta.app_label
        db_table = ARCHIVE_TABLE

    return type(
        "Archive",
        (models.Model,),
        {
            "__module__": __name__,
            "Meta": Meta,
            "id": models.BigAutoField(primary_key=True),
            "object_pk": models.TextField(),
            "data": models.JSONField(),
        },
    )


def row_as_json(obj):
    """Every column by attname: JSON types as they are, other values as text
    (Field.value_to_string: exact decimals, full datetimes, base64 bytes)."""
    data = {}
    for field in obj._meta.concrete_fields:
        value = field.value_from_object(obj)
        if value is None or isinstance(value, (bool, int, float, str)):
            data[field.attname] = value
        else:
            data[field.attname] = field.value_to_string(obj)
    return data


def row_from_json(model, data):
    """The row that row_as_json() wrote, as an unsaved object."""
    return model(
        **{
            field.attname: field.to_python(data[field.attname])
            for field in model._meta.concrete_fields
            if field.attname in data
        }
    )
