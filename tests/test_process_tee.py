"""``process.tee`` reading the checker's output (real programs, no database)."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

import pytest

from migration_guard.backup import process
from tests.conftest import ROOT

pytestmark = pytest.mark.backends("sqlite")

#: about 3 MiB of lines: more than a pipe holds, so a checker nobody reads blocks
PRODUCE = [
    "python3",
    "-c",
    "import sys\nfor i in range(200000): print(f'line {i:08d}')",
]


def test_the_checker_output_is_read_in_full(tmp_path: Path) -> None:
    lines: list[int] = []

    def count(source: IO[bytes]) -> None:
        lines.append(sum(1 for _ in source))

    path = tmp_path / "out"
    digest = process.tee(PRODUCE, path, check=["cat"], check_output=count)
    data = path.read_bytes()
    assert digest == hashlib.sha256(data).hexdigest()
    assert lines == [200000] == [data.count(b"\n")]


def test_a_reader_that_fails_fails_the_tee_without_hanging(tmp_path: Path) -> None:
    def fail(source: IO[bytes]) -> None:
        source.read(10)
        raise ValueError("cannot parse")

    with pytest.raises(process.ProcessError) as caught:
        process.tee(PRODUCE, tmp_path / "out", check=["cat"], check_output=fail)
    assert str(caught.value) == "Reading the output of cat failed: cannot parse"


def test_a_reader_that_cannot_start_leaves_no_program_running(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No thread to spare (``RuntimeError: can't start new thread``): both
    programs go. A pg_dump left blocked on a pipe nobody reads would keep its
    snapshot, and the locks of every table it dumps, for as long as the
    process lives."""
    started: list[subprocess.Popen[bytes]] = []
    real_popen = process.popen

    def tracking(argv: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        started.append(real_popen(argv, **kwargs))
        return started[-1]

    def no_thread(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(process, "popen", tracking)
    monkeypatch.setattr(process._Reader, "start", no_thread)
    with pytest.raises(RuntimeError, match="can't start new thread"):
        process.tee(
            PRODUCE, tmp_path / "out", check=["cat"], check_output=lambda _: None
        )
    assert len(started) == 2
    assert [child.poll() is None for child in started] == [False, False]
    assert process._children == set()


#: a signal that lands while ``popen`` starts a child (inside ``Popen``,
#: where CPython runs the at-fork hooks and with them pending handlers)
SIGNAL_DURING_POPEN = """
import signal, subprocess
from migration_guard.backup import process
from migration_guard.run import interrupts

real = subprocess.Popen

def landing(*args, **kwargs):
    signal.raise_signal(signal.SIGINT)  # its handler runs here
    return real(*args, **kwargs)

subprocess.Popen = landing
try:
    with interrupts.handled():
        process.popen(["sleep", "30"])
except interrupts.Interrupted as exc:
    print("interrupted:", exc)
"""


def test_a_signal_while_a_child_starts_interrupts_without_hanging() -> None:
    """The handler stops the children under the lock that ``popen`` holds
    while it forks: a signal then hung the process for ever (a Ctrl-C at the
    start of a backup: pg_dump kept its snapshot and its locks)."""
    done = subprocess.run(
        [sys.executable, "-c", SIGNAL_DURING_POPEN],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(ROOT),
    )
    assert (done.returncode, done.stdout) == (0, "interrupted: interrupted by SIGINT\n")
