"""A download progress bar on stderr, drawn only when stderr is a terminal.

rkt draws ``Downloading ACI: [====   ] 3.25 MB/3.7 MB`` while fetching. Scripts and schedulers
call ``rkt fetch`` with stderr captured, and carriage-return animations would only fill their
logs, so :func:`progress_for` returns ``None`` unless the stream is a TTY.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

BAR_WIDTH = 30
# Redrawing on every 1 MiB chunk of a fast local transfer would cost more than the transfer.
REDRAW_INTERVAL = 0.1


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


class Progress:
    """Bytes done of the total (when the server said), the rate and the time left.

    ``start`` is what a resumed download already had; the rate counts only this transfer.
    """

    def __init__(
        self,
        label: str,
        total: int | None,
        stream: TextIO,
        *,
        start: int = 0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._label = label
        self._total = total if total and total > 0 else None
        self._stream = stream
        self._start = start
        self._done = start
        self._clock = clock
        self._began = clock()
        self._drawn_at = float("-inf")
        self._width = 0

    def advance(self, n: int) -> None:
        self._done += n
        at = self._clock()
        if at - self._drawn_at >= REDRAW_INTERVAL:
            self._drawn_at = at
            self._draw(at)

    def finish(self) -> None:
        self._draw(self._clock())
        self._stream.write("\n")
        self._stream.flush()

    def line(self, at: float) -> str:
        """The text of the bar at time ``at`` (of the clock given), without the ``\\r``."""
        elapsed = max(at - self._began, 1e-9)
        rate = (self._done - self._start) / elapsed
        parts = [f"Downloading {self._label}:"]
        if self._total is not None:
            done = min(self._done, self._total)
            filled = BAR_WIDTH * done // self._total
            parts.append("[" + "=" * filled + " " * (BAR_WIDTH - filled) + "]")
            parts.append(f"{_size(self._done)}/{_size(self._total)}")
        else:
            parts.append(_size(self._done))
        parts.append(f"{_size(rate)}/s")
        if self._total is not None and rate > 0 and self._done < self._total:
            parts.append(f"ETA {_duration((self._total - self._done) / rate)}")
        return " ".join(parts)

    def _draw(self, at: float) -> None:
        text = self.line(at)
        # Pad over what a longer previous line left on the screen.
        padding = " " * max(0, self._width - len(text))
        self._width = len(text)
        self._stream.write("\r" + text + padding)
        self._stream.flush()


def progress_for(
    stream: TextIO | None, label: str, total: int | None, *, start: int = 0
) -> Progress | None:
    """A progress bar on ``stream`` if it is a terminal, else ``None``."""
    if stream is None:
        return None
    try:
        interactive = stream.isatty()
    except (AttributeError, ValueError):  # a closed or file-less stream
        return None
    return Progress(label, total, stream, start=start) if interactive else None
