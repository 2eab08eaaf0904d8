"""Imported by ``migrate`` as it starts, as django-guardian's is."""

from typing import Any

from django.db import connections
from django.db.models.signals import post_migrate


def rename_first_widget(using: str = "default", **kwargs: Any) -> None:
    """Writes ``scenario_widget``, a table no scoped plan of the test names."""
    with connections[using].cursor() as cursor:
        cursor.execute("UPDATE scenario_widget SET name = 'renamed' WHERE id = 1")


post_migrate.connect(rename_first_widget, dispatch_uid="receiverapp_rename")
