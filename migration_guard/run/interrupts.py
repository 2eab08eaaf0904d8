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

from migration_guard.backup import process

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
    signum = received()
    if signum is not None:
        return 128 + signum
    if isinstance(exc, KeyboardInterrupt):
        return 128 + signal.SIGINT
    return None


class _State:
    raised = False
    signum: int | None = None


#: the handlers' state while :func:`handled` is active (None otherwise)
_current: list[_State] = []


def defer() -> None:
    """From now on, signals are noted and ignored: a cleanup (a restore) runs.

    Killing the restore of a failed run half-way would leave the database
    worse than the failure did.
    """
    if _current:
        _current[-1].raised = True


def as_error(exc: KeyboardInterrupt) -> BaseException:
    """The error a command exits with when ``exc`` ended it outside a run."""
    from migration_guard.exceptions import RunInterrupted

    code = exit_code_of(exc) or 130
    return RunInterrupted(
        f"Interrupted by {signal.Signals(code - 128).name}. A migration run that "
        "was under way is recorded as interrupted by the next run, which says "
        "what to do if anything is left half-done ('manage.py migrationhistory' "
        "shows the runs).",
        returncode=code,
    )


def received() -> int | None:
    """The first signal received while :func:`handled` is active, if any.

    A driver may turn the interruption into its own error (psycopg2 cancels
    the statement: ``QueryCanceledError``); the run is interrupted all the same.
    """
    return _current[-1].signum if _current else None


@contextlib.contextmanager
def cancellable_queries(alias: str) -> Iterator[None]:
    """Let a signal cut the statement running on ``alias`` short.

    The drivers wait for a statement's result in C, where Python's signal
    handlers cannot run until it ends (a long ALTER TABLE: minutes). psycopg2
    gets its ``wait_select`` callback, which waits in Python and cancels the
    statement on an interruption (psycopg 3 does so by itself). For MySQL a
    watcher thread, woken by the signal through ``signal.set_wakeup_fd``,
    runs ``KILL QUERY`` on another connection.
    """
    from django.db import connections

    connection = connections[alias]
    if connection.vendor == "postgresql":
        with _psycopg2_wait_select():
            yield
    elif connection.vendor == "mysql" and _current and _is_main_thread():
        connection.ensure_connection()
        with _mysql_query_killer(alias, int(connection.connection.thread_id())):
            yield
    else:
        yield


def _is_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextlib.contextmanager
def _psycopg2_wait_select() -> Iterator[None]:
    try:
        import psycopg2.extensions  # type: ignore[import-untyped]
        import psycopg2.extras  # type: ignore[import-untyped]
    except ImportError:
        yield
        return
    previous = psycopg2.extensions.get_wait_callback()
    psycopg2.extensions.set_wait_callback(psycopg2.extras.wait_select)
    try:
        yield
    finally:
        psycopg2.extensions.set_wait_callback(previous)


@contextlib.contextmanager
def _mysql_query_killer(alias: str, thread_id: int) -> Iterator[None]:
    import os
    import select

    from django.db import connections

    wake_read, wake_write = os.pipe()
    stop_read, stop_write = os.pipe()
    os.set_blocking(wake_write, False)

    def watch() -> None:
        ready, _, _ = select.select([wake_read, stop_read], [], [])
        if wake_read not in ready:
            return
        killer = connections.create_connection(alias)
        try:
            with contextlib.suppress(Exception), killer.cursor() as cursor:
                cursor.execute("KILL QUERY %s", [thread_id])
        finally:
            with contextlib.suppress(Exception):
                killer.close()

    previous = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        signal.set_wakeup_fd(previous)
        os.write(stop_write, b"x")
        watcher.join(timeout=10)
        for fd in (wake_read, wake_write, stop_read, stop_write):
            os.close(fd)


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
    _current.append(state)

    def handler(signum: int, frame: FrameType | None) -> Any:
        if state.signum is None:
            state.signum = signum
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
        _current.remove(state)
