"""The only place in safemigrate that runs a subprocess.

Commands are argv lists (never a shell). Secrets reach the child through a
file of mode 0600 that is removed afterwards, or through its environment;
never through argv. stderr is captured, and every secret is redacted from it
before it becomes part of an error message.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import subprocess
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


def which(command: str) -> str | None:
    """The path of ``command`` (a name on PATH or a path), None when missing."""
    if os.sep in command:
        return command if os.access(command, os.X_OK) else None
    return shutil.which(command)


@contextlib.contextmanager
def secret_file(content: str, *, suffix: str = "") -> Iterator[Path]:
    """A file only the owner can read, holding ``content``; removed afterwards."""
    fd, name = tempfile.mkstemp(prefix="safemigrate-", suffix=suffix)
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
        yield Path(name)
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name)


def _watch(path: Path, progress: Callable[[int], None], done: threading.Event) -> None:
    while not done.wait(0.5):
        with contextlib.suppress(OSError):
            progress(path.stat().st_size)


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
    ``progress``, the size of the file at ``watch`` is reported twice a second.
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
        completed = subprocess.run(
            argv,
            stdin=stdin if stdin is not None else subprocess.DEVNULL,
            stdout=stdout if stdout is not None else subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=child_env,
            check=False,
        )
    except FileNotFoundError as exc:
        raise ProcessError(f"{argv[0]} is not installed or not on PATH") from exc
    except OSError as exc:
        raise ProcessError(f"{argv[0]} could not be started: {exc.strerror}") from exc
    finally:
        done.set()
        if watcher is not None:
            watcher.join()
    stderr = redact(completed.stderr.decode("utf-8", "replace"), secrets).strip()
    if completed.returncode != 0:
        detail = stderr[-STDERR_LIMIT:] or "no error output"
        raise ProcessError(
            f"{Path(argv[0]).name} exited with status {completed.returncode}: {detail}",
            returncode=completed.returncode,
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
) -> str:
    """Run ``argv``, write its stdout to ``path`` and feed it to ``check`` at once.

    The checker (a verifier reading the same bytes from its stdin) runs while
    the dump is produced, on the other core, instead of after it; the stream
    is hashed on the way. Returns the stream's sha256. Raises ProcessError if
    either program fails. Memory stays flat: one chunk at a time.
    """
    argv, check = [str(a) for a in argv], [str(a) for a in check]
    child_env = dict(os.environ)
    child_env.update(env or {})
    digest = hashlib.sha256()
    done = 0
    with (
        tempfile.TemporaryFile() as dump_err,
        tempfile.TemporaryFile() as check_err,
        open(path, "wb") as out,
    ):
        try:
            producer = subprocess.Popen(
                argv, stdout=subprocess.PIPE, stderr=dump_err, env=child_env
            )
        except OSError as exc:
            raise ProcessError(f"{argv[0]} could not be started: {exc}") from exc
        try:
            checker = subprocess.Popen(
                check,
                stdin=subprocess.PIPE,
                stdout=subprocess.DEVNULL,
                stderr=check_err,
            )
        except OSError as exc:
            producer.kill()
            producer.wait()
            raise ProcessError(f"{check[0]} could not be started: {exc}") from exc
        assert producer.stdout is not None and checker.stdin is not None
        checker_alive = True
        try:
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
        finally:
            with contextlib.suppress(BrokenPipeError):
                checker.stdin.close()
            producer.stdout.close()
            produced, checked = producer.wait(), checker.wait()
        for program, status, errors in (
            (argv[0], produced, dump_err),
            (check[0], checked, check_err),
        ):
            if status != 0:
                errors.seek(0)
                text = redact(errors.read().decode("utf-8", "replace"), secrets)
                detail = text.strip()[-STDERR_LIMIT:] or "no error output"
                raise ProcessError(
                    f"{Path(program).name} exited with status {status}: {detail}",
                    returncode=status,
                    stderr=detail,
                )
    return digest.hexdigest()
