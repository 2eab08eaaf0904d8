"""The only place in migration_guard that runs a subprocess.

Commands are argv lists (never a shell). Secrets reach the child through a
memory file (``memfd_create``, mode 0600) the child inherits and opens as
``/dev/fd/N``: they never touch a disk, and nothing is left behind when
migration_guard is killed. Never through argv. stderr is captured, and every
secret is redacted from it before it becomes part of an error message.

Children never outlive migration_guard: each runs in its own process group with
a parent-death signal (``PR_SET_PDEATHSIG``: the kernel kills it when
migration_guard dies, even of ``kill -9``), and :func:`stop_children` (called by
the signal handlers of :mod:`migration_guard.run.interrupts`) kills the groups of
those still running.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

STDERR_LIMIT = 4000
CHUNK = 1024 * 1024
REDACTED = "********"


class ProcessError(Exception):
    """A tool failed, or could not be started; the message is redacted."""

    def __init__(
        self, message: str, *, returncode: int | None = None, stderr: str = ""
    ) -> None:
        super().__init__(message)
        self.returncode = returncode
        self.stderr = stderr  # the tool's own (redacted) error output


def redact(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, REDACTED)
    return text


#: the children running now, stopped by :func:`stop_children`
_children: set[subprocess.Popen[bytes]] = set()
#: re-entrant: the signal handlers call :func:`stop_children` in the main
#: thread, which may be inside :func:`popen` holding it (CPython runs pending
#: handlers in ``Popen``, at fork); a plain lock would wait for itself
_children_lock = threading.RLock()
#: memory files holding secrets, inherited by every child while they exist
_inherited: set[int] = set()
PR_SET_PDEATHSIG = 1


def _death_signal() -> Callable[[], None] | None:
    """A preexec function: SIGKILL the child when the thread that started it dies.

    ``prctl`` is looked up here, in the parent: the child of a threaded
    process must not import anything between fork and exec.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None

    def preexec() -> None:  # pragma: no cover - runs in the child
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)

    return preexec


def popen(argv: Sequence[str], **kwargs: object) -> subprocess.Popen[bytes]:
    """``Popen`` in its own process group, killed with migration_guard, tracked."""
    preexec = _death_signal()
    with _children_lock:
        child: subprocess.Popen[bytes] = subprocess.Popen(  # type: ignore[call-overload]
            list(argv),
            process_group=0,
            preexec_fn=preexec,
            pass_fds=tuple(sorted(_inherited)),
            **kwargs,
        )
        _children.add(child)
    return child


def _forget(child: subprocess.Popen[bytes]) -> None:
    with _children_lock:
        _children.discard(child)


def stop_children() -> int:
    """Kill the process group of every child still running; return how many."""
    with _children_lock:
        running = [child for child in _children if child.poll() is None]
    for child in running:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
    return len(running)


def which(command: str) -> str | None:
    """The path of ``command`` (a name on PATH or a path), None when missing."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    return shutil.which(command)


@contextlib.contextmanager
def secret_file(content: str, *, suffix: str = "") -> Iterator[Path]:
    """A path only this process and its children can read, holding ``content``.

    On Linux a memory file (never on a disk, gone with the last process that
    holds it), passed to the children started meanwhile, which open it as
    ``/dev/fd/N``. Elsewhere a 0600 file in the temporary directory, removed
    afterwards.
    """
    if not hasattr(os, "memfd_create"):  # pragma: no cover - not Linux
        yield from _secret_tempfile(content, suffix)
        return
    fd = os.memfd_create(f"migration_guard{suffix}", os.MFD_CLOEXEC)
    try:
        os.fchmod(fd, 0o600)  # the clients refuse option files others can read
        os.write(fd, content.encode("utf-8"))
        with _children_lock:
            _inherited.add(fd)
        yield Path(f"/dev/fd/{fd}")
    finally:
        with _children_lock:
            _inherited.discard(fd)
        os.close(fd)


def _secret_tempfile(content: str, suffix: str) -> Iterator[Path]:
    fd, name = tempfile.mkstemp(prefix="migration-guard-", suffix=suffix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _size(path: Path) -> int:
    """The size of a file, or of the files of a directory tree."""
    if not path.is_dir():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _watch(path: Path, progress: Callable[[int], None], done: threading.Event) -> None:
    while not done.wait(0.5):
        with contextlib.suppress(OSError):
            progress(_size(path))


def run(
    argv: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    secrets: Sequence[str] = (),
    watch: Path | None = None,
    progress: Callable[[int], None] | None = None,
) -> str:
    """Run ``argv`` to completion; return its stderr, raise ProcessError on failure.

    ``stdin``/``stdout`` are binary files the child reads/writes directly (no
    copy through Python, so memory stays flat). With ``watch`` and
    ``progress``, the size of the file (or directory) at ``watch`` is reported
    twice a second.
    """
    argv = [str(arg) for arg in argv]
    child_env = dict(os.environ)
    child_env.update(env or {})
    done = threading.Event()
    watcher = None
    if watch is not None and progress is not None:
        watcher = threading.Thread(
            target=_watch, args=(watch, progress, done), daemon=True
        )
        watcher.start()
    try:
        child = popen(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env,
        )
        try:
            _, raw_stderr = child.communicate()
        finally:  # interrupted (a signal): the child goes too
            if child.poll() is None:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(child.pid, signal.SIGKILL)
                child.wait()
            _forget(child)
    except FileNotFoundError as exc:
        raise ProcessError(f"{argv[0]} is not installed or not on PATH") from exc
    except OSError as exc:
        raise ProcessError(f"{argv[0]} could not be started: {exc.strerror}") from exc
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    stderr = redact(raw_stderr.decode("utf-8", "replace"), secrets).strip()
    if child.returncode != 0:
        detail = stderr[-STDERR_LIMIT:] or "no error output"
        raise ProcessError(
            f"{Path(argv[0]).name} exited with status {child.returncode}: {detail}",
            returncode=child.returncode,
            stderr=detail,
        )
    return stderr


def output(argv: Sequence[str], *, env: Mapping[str, str] | None = None) -> str:
    """Run a short command (``--version``, ``--list``) and return its stdout."""
    with tempfile.TemporaryFile() as out:
        run(argv, env=env, stdout=out)
        out.seek(0)
        return out.read().decode("utf-8", "replace")


def tee(
    argv: Sequence[str],
    path: Path,
    *,
    check: Sequence[str],
    env: Mapping[str, str] | None = None,
    secrets: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    check_output: Callable[[IO[bytes]], None] | None = None,
) -> str:
    """Run ``argv``, write its stdout to ``path`` and feed it to ``check`` at once.

    The checker (a verifier reading the same bytes from its stdin) runs while
    the dump is produced, on the other core, instead of after it; the stream
    is hashed on the way. Returns the stream's sha256. Raises ProcessError if
    either program fails. Memory stays flat: one chunk at a time.

    ``check_output``: called, in a thread, with the checker's stdout (which
    otherwise goes to /dev/null), read to its end: what the checker decoded
    is then used once (the rows counted) instead of decoded again later.
    """
    argv, check = [str(a) for a in argv], [str(a) for a in check]
    child_env = dict(os.environ)
    child_env.update(env or {})
    with (
        tempfile.TemporaryFile() as dump_err,
        tempfile.TemporaryFile() as check_err,
        open(path, "wb") as out,
    ):
        producer, checker = _start_pair(
            argv, check, child_env, dump_err, check_err, piped=check_output is not None
        )
        reader: _Reader | None = None
        try:
            if check_output is not None:  # no thread to spare: both programs go
                reader = _Reader(checker, check_output)
            digest = _pump(producer, checker, out, progress)
        except BaseException:  # interrupted: neither goes on without us
            _kill(producer, checker)
            raise
        finally:
            assert producer.stdout is not None and checker.stdin is not None
            with contextlib.suppress(BrokenPipeError):
                checker.stdin.close()
            producer.stdout.close()
            if reader is None and checker.stdout is not None:
                checker.stdout.close()
            produced, checked = producer.wait(), checker.wait()
            if reader is not None:
                reader.join()
            _forget(producer)
            _forget(checker)
        _succeeded(argv[0], produced, dump_err, secrets)
        _succeeded(check[0], checked, check_err, secrets)
        if reader is not None and reader.error is not None:
            why = str(reader.error) or type(reader.error).__name__  # MemoryError()
            raise ProcessError(
                f"Reading the output of {Path(check[0]).name} failed: {why}"
            ) from reader.error
    return digest


def _succeeded(
    program: str, status: int, errors: IO[bytes], secrets: Sequence[str]
) -> None:
    """Raise ProcessError with ``program``'s error output if it failed."""
    if status == 0:
        return
    errors.seek(0)
    text = redact(errors.read().decode("utf-8", "replace"), secrets)
    detail = text.strip()[-STDERR_LIMIT:] or "no error output"
    raise ProcessError(
        f"{Path(program).name} exited with status {status}: {detail}",
        returncode=status,
        stderr=detail,
    )


class _Reader(threading.Thread):
    """Hands the checker's stdout to ``consume``, then drains what is left,
    so that the checker never blocks on a full pipe (which would stop the
    pump feeding it)."""

    def __init__(
        self, checker: subprocess.Popen[bytes], consume: Callable[[IO[bytes]], None]
    ) -> None:
        super().__init__(daemon=True)
        assert checker.stdout is not None
        self.source = checker.stdout
        self.consume = consume
        self.error: Exception | None = None
        self.start()

    def run(self) -> None:
        try:
            self.consume(self.source)
        except Exception as exc:  # raised by tee() once both programs ended
            self.error = exc
        finally:
            with contextlib.suppress(OSError, ValueError):
                while self.source.read(CHUNK):
                    pass
                self.source.close()


def _start_pair(
    argv: list[str],
    check: list[str],
    env: Mapping[str, str],
    dump_err: IO[bytes],
    check_err: IO[bytes],
    *,
    piped: bool = False,
) -> tuple[subprocess.Popen[bytes], subprocess.Popen[bytes]]:
    """The producer (stdout piped to us) and the checker (stdin piped from
    us; its stdout too when ``piped``, else /dev/null)."""
    try:
        producer = popen(argv, stdout=subprocess.PIPE, stderr=dump_err, env=env)
    except OSError as exc:
        raise ProcessError(f"{argv[0]} could not be started: {exc}") from exc
    try:
        checker = popen(
            check,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE if piped else subprocess.DEVNULL,
            stderr=check_err,
        )
    except OSError as exc:
        producer.kill()
        producer.wait()
        _forget(producer)
        raise ProcessError(f"{check[0]} could not be started: {exc}") from exc
    return producer, checker


def _pump(
    producer: subprocess.Popen[bytes],
    checker: subprocess.Popen[bytes],
    out: IO[bytes],
    progress: Callable[[int], None] | None,
) -> str:
    """Copy the producer's stdout to ``out`` and the checker; the sha256 of it.
    On any exception :func:`tee` kills both."""
    assert producer.stdout is not None and checker.stdin is not None
    digest = hashlib.sha256()
    done = 0
    checker_alive = True
    while chunk := producer.stdout.read(CHUNK):
        out.write(chunk)
        digest.update(chunk)
        if checker_alive:
            try:
                checker.stdin.write(chunk)
            except BrokenPipeError:  # it gave up: its status says why
                checker_alive = False
        done += len(chunk)
        if progress is not None:
            progress(done)
    return digest.hexdigest()


def _kill(*children: subprocess.Popen[bytes]) -> None:
    for child in children:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(child.pid, signal.SIGKILL)
