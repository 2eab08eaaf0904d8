"""Progress on a terminal: one line rewritten in place, nothing anywhere else.

Hand-written rather than a library (tqdm, rich): what is shown is three kinds
of counters on lines the commands already print, a library would be a
runtime dependency of every deploy for that, and it would have to be kept
from writing when the output is a pipe, a file or ``--format json``, which is
the one thing that matters here. Every function returns None (show nothing)
unless the stream is a terminal.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

MB = 1048576.0


def is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty is not None and isatty())
    except ValueError:  # closed
        return False


def megabytes(done: float) -> str:
    return f"{done / MB:,.1f} MB"


def rate_text(done: float, seconds: float, unit: str = "MB") -> str:
    if seconds <= 0:
        return "-"
    if unit == "MB":
        return f"{done / MB / seconds:,.1f} MB/s"
    return f"{done / seconds:,.0f} {unit}/s"


def eta_text(done: float, total: float, seconds: float) -> str:
    if done <= 0 or total <= done or seconds <= 0:
        return "0s"
    left = (total - done) * seconds / done
    return f"{left:,.0f}s" if left < 120 else f"{left / 60:,.0f}min"


def byte_counter(
    stream: Any,
    label: str,
    *,
    total: int | None = None,
    on_show: Callable[[], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> Callable[[int], None] | None:
    """``report(done)``: bytes done and the rate (of ``total``, with an ETA)."""
    if not is_terminal(stream):
        return None
    started = clock()

    def report(done: int) -> None:
        seconds = clock() - started
        text = f"  {label}: {megabytes(done)}"
        if total:
            text += f" of {megabytes(total)}"
        text += f", {rate_text(done, seconds)}"
        if total:
            text += f", ETA {eta_text(done, total, seconds)}"
        stream.write(f"\r\033[K{text}")
        stream.flush()
        if on_show is not None:
            on_show()

    return report


def plan_counter(
    stream: Any, total: int, clock: Callable[[], float] = time.monotonic
) -> Callable[[int], None] | None:
    """``announce(n)`` before migration n of ``total``: ``[n/N, 1.2s]``."""
    if not is_terminal(stream) or total < 1:
        return None
    started = clock()

    def announce(number: int) -> None:
        stream.write(f"  [{number}/{total}, {clock() - started:.1f}s]")
        stream.flush()

    return announce


def restore_total(label: str, manifest: Any) -> int | None:
    """The size of the file a restore reads (its progress knows the end)."""
    return int(manifest.size) if label == "Restoring" else None
