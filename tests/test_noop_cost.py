"""What a deploy with nothing to apply costs beyond Django's ``migrate``.

Counted in queries (deterministic), on a fully migrated database: one listing
of the tables (the restore marker and the ledger), one read of the runs that
are still open, the position of the database's log (not on SQLite), the
ledger row of the run, and the plan read under the lock.
"""

from __future__ import annotations

import io

from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.conftest import Database

EXTRA = {"postgresql": 5, "mysql": 5, "sqlite": 4}


def queries(command: str) -> list[str]:
    connection.close()
    with CaptureQueriesContext(connection) as captured:
        call_command(command, stdout=io.StringIO(), interactive=False)
    return [query["sql"] for query in captured.captured_queries]


def test_a_deploy_with_nothing_to_apply_costs_few_queries_more_than_migrate(
    database: Database,
) -> None:
    call_command("guardedmigrate", stdout=io.StringIO(), interactive=False)
    plain = queries("migrate")
    guarded = queries("guardedmigrate")
    assert len(guarded) - len(plain) == EXTRA[database.vendor], "\n".join(guarded)
