"""What a failed run does: the ``AUTO_RESTORE`` policy, and a rehearsal's verdict.

The scenarios (a failing migration on each backend) are in test_guardedmigrate,
test_backup and tests/faults; these are the decisions in isolation.
"""

from __future__ import annotations

import pytest

from migration_guard.exceptions import CheckFailed
from migration_guard.gates.rehearse import Rehearsal, failure
from migration_guard.run.failure import restores
from migration_guard.run.planning import TargetSpec

pytestmark = pytest.mark.backends("sqlite")


@pytest.mark.parametrize(
    ("policy", "consistent", "applied", "restored"),
    [
        ("auto", True, False, False),
        ("auto", True, True, False),
        ("auto", False, False, True),
        ("auto", False, True, True),
        ("always", True, False, False),
        ("always", True, True, True),
        ("always", False, False, True),
        ("always", False, True, True),
        ("never", False, True, False),
        ("never", True, False, False),
    ],
)
def test_auto_restore_policy(
    policy: str, consistent: bool, applied: bool, restored: bool
) -> None:
    assert restores(policy, consistent, applied) is restored


def rehearsal(**fields: object) -> Rehearsal:
    result = Rehearsal("default", "sqlite", TargetSpec())
    result.plan = [{"app": "shop", "name": "0002_x", "backwards": False}]
    for name, value in fields.items():
        setattr(result, name, value)
    return result


def test_a_rehearsal_that_passed_is_no_failure() -> None:
    assert failure(rehearsal(revert_status="done")) is None
    assert failure(rehearsal(plan=[])) is None  # nothing to rehearse


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        (
            {"failed_migration": "shop.0002_x", "error": "boom"},
            "shop.0002_x failed on the copy: boom",
        ),
        (
            {"revert_status": "failed", "revert_error": "the revert broke"},
            "the revert failed on the copy: the revert broke",
        ),
        (
            {
                "failed_migration": "shop.0003_y",
                "error": "cannot be unapplied",
                "refused": True,
            },
            "shop.0003_y cannot be unapplied",
        ),
        (
            {"over_budget": ["shop.0002_x held X on t for 90 ms"], "max_lock_ms": 50},
            "shop.0002_x held X on t for 90 ms, over --max-lock-ms 50",
        ),
    ],
)
def test_a_failed_rehearsal_exits_2(fields: dict[str, object], message: str) -> None:
    error = failure(rehearsal(**fields))
    assert isinstance(error, CheckFailed)
    assert (error.returncode, str(error)) == (
        2,
        f"Rehearsal of database 'default' failed: {message}. Database 'default' "
        "was not changed.",
    )
