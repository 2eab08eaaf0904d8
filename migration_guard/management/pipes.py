"""Output into a pipe whose reader went away (``manage.py ... | head``).

The reader leaving must neither print a BrokenPipeError traceback nor stop a
command halfway (a migration interrupted because nobody reads its output any
more): from then on the output is discarded and the command finishes its work
and exits with its own exit code.
"""

from __future__ import annotations

import contextlib
import os
from typing import Any, TextIO


def discard_from_now(stream: TextIO) -> None:
    """Point ``stream``'s file descriptor at /dev/null (the pending buffer too)."""
    try:
        fd = stream.fileno()
    except (AttributeError, OSError, ValueError):
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
    finally:
        os.close(devnull)


def flush_quietly(stream: TextIO) -> None:
    """Flush ``stream``; a reader that went away is not an error."""
    try:
        stream.flush()
    except BrokenPipeError:
        discard_from_now(stream)
        with contextlib.suppress(BrokenPipeError, ValueError):
            stream.flush()  # the buffered rest goes to /dev/null now
    except ValueError:  # closed
        pass


class PipeSafe:
    """A text stream that stops writing, quietly, once its reader is gone."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.reader_gone = False

    def write(self, text: str) -> int:
        if not self.reader_gone:
            try:
                self._stream.write(text)
            except BrokenPipeError:
                self._gone()
        return len(text)

    def flush(self) -> None:
        if not self.reader_gone:
            try:
                self._stream.flush()
            except BrokenPipeError:
                self._gone()

    def _gone(self) -> None:
        self.reader_gone = True
        discard_from_now(self._stream)

    def isatty(self) -> bool:
        return self._stream.isatty()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)
