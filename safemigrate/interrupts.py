"""SIGINT, SIGTERM and SIGHUP end a run cleanly.

While a command that writes runs, each of the three signals kills the
children (dump and load tools) at once and raises :class:`Interrupted` in
the main thread, so the ordinary failure path runs: temporary and
``.partial`` files are removed by their ``finally`` blocks, a migration that
the database could not roll back is restored from the pre-run backup
(``AUTO_RESTORE``), the ledger records the run as ``interrupted``, and the
lock is released. The exit status is ``128 + signal number`` (130 for
SIGINT, 143 for SIGTERM, 129 for SIGHUP), or 7 when the database was left
half-migrated and could not be restored.

Further signals while that cleanup runs are noted and ignored: cutting the
cleanup short would leave exactly the mess it is there to avoid (``kill -9``
still stops everything; the next run then finds the run and says what to do).
"""

from __future__ import annotations

import contextlib
import signal
import threading
from collections.abc import Iterator
from types import FrameType
from typing import Any

from safemigrate.backup import process

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The run received ``signum``; its exit status is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"interrupted by {signal.Signals(signum).name}")

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


def exit_code_of(exc: BaseException) -> int | None:
    """The exit status of an interruption (Ctrl-C without a handler: SIGINT)."""
    if isinstance(exc, Interrupted):
        return exc.exit_code
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    return None


class _State:
    raised = False


def as_error(exc: KeyboardInterrupt) -> BaseException:
    """The error a command exits with when ``exc`` ended it outside a run."""
    from safemigrate.exceptions import RunInterrupted

    code = exit_code_of(exc) or 130
    return RunInterrupted(
        f"Interrupted ({signal.Signals(code - 128).name}); nothing was changed.",
        returncode=code,
    )


@contextlib.contextmanager
def handled() -> Iterator[None]:
    """Turn the three signals into :class:`Interrupted` for the duration.

    Only in the main thread (Python delivers signals there); elsewhere the
    previous handlers stay.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    state = _State()

    def handler(signum: int, frame: FrameType | None) -> Any:
        if state.raised:
            return  # already unwinding: let the cleanup (a restore) finish
        state.raised = True
        process.stop_children()
        raise Interrupted(signum)

    previous = {signum: signal.signal(signum, handler) for signum in SIGNALS}
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
