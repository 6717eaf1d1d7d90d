"""The progress bar: only on a terminal; bytes, rate and time left."""

from __future__ import annotations

import io

from rkt.fetch.progress import Progress, progress_for


class FakeTTY(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_no_bar_unless_a_terminal() -> None:
    assert progress_for(io.StringIO(), "ACI", 10) is None
    assert progress_for(None, "ACI", 10) is None
    assert progress_for(FakeTTY(), "ACI", 10) is not None


def test_line_shows_bytes_rate_and_eta() -> None:
    clock = iter([0.0, 2.0])
    bar = Progress("ACI", 4_000_000, FakeTTY(), clock=lambda: next(clock))
    bar._done = 2_000_000
    line = bar.line(2.0)
    assert line.startswith("Downloading ACI: [" + "=" * 15 + " " * 15 + "]")
    assert "2.0 MB/4.0 MB" in line
    assert "1.0 MB/s" in line
    assert "ETA 0:02" in line


def test_resumed_download_counts_only_this_transfer() -> None:
    bar = Progress("ACI", 1000, FakeTTY(), start=500, clock=lambda: 0.0)
    bar._done = 600
    assert "100 B/s" in bar.line(1.0)


def test_unknown_total() -> None:
    bar = Progress("ACI", None, FakeTTY(), clock=lambda: 0.0)
    bar._done = 1500
    line = bar.line(1.0)
    assert "[" not in line and "ETA" not in line
    assert "1.5 KB" in line


def test_drawing_is_throttled_and_finishes_with_a_newline() -> None:
    stream = FakeTTY()
    times = iter([0.0, 0.01, 0.02, 0.5, 0.6])
    bar = Progress("ACI", 100, stream, clock=lambda: next(times))
    bar.advance(10)  # drawn (first)
    bar.advance(10)  # too soon
    bar.advance(10)  # drawn at 0.5
    bar.finish()
    text = stream.getvalue()
    assert text.count("\r") == 3
    assert text.endswith("\n")
    assert "30 B/100 B" in text
