"""Durations as rkt's flags take them: Go's ``time.ParseDuration`` (``24h0m0s``, ``1.5h``,
``-10s``, ``0``), shared by ``rkt gc``, ``rkt image gc`` and ``rkt status --wait``, and Go's
``Duration.String`` for the defaults their help shows."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rkt.cli.flags import Flag, FlagSet

_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}
_UNITS["h"] = 3600.0
_DURATION = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> float:
    """The duration ``text`` in seconds; ValueError with Go's message when invalid."""
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0.0
    pos, total = 0, 0.0
    for match in _DURATION.finditer(body):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if not body or pos != len(body):
        raise ValueError(f'time: invalid duration "{text}"')
    return sign * total


def format_duration(seconds: float) -> str:
    """Go's ``Duration.String``: ``24h0m0s``, ``30m0s``, ``1.5s``, ``100ms``, ``0s``."""
    nanos = round(seconds * 1e9)
    sign, nanos = ("-", -nanos) if nanos < 0 else ("", nanos)
    if nanos == 0:
        return "0s"
    if nanos < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if nanos >= size:
                return sign + _decimal(nanos, size) + unit
    hours, rest = divmod(nanos, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    text = _decimal(rest, 1_000_000_000) + "s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return sign + text


def _decimal(value: int, unit: int) -> str:
    whole, fraction = divmod(value, unit)
    if not fraction:
        return str(whole)
    digits = str(fraction).rjust(len(str(unit)) - 1, "0").rstrip("0")
    return f"{whole}.{digits}"


def add_duration(flags: FlagSet, name: str, default: float, usage: str, **kwargs: Any) -> Flag:
    """A ``time.Duration`` flag, stored in seconds."""
    from rkt.cli.flags import Flag

    return flags.add(
        Flag(name, usage, default, default_text=format_duration(default), type_name="duration",
             check=parse_duration, metavar="DURATION", **kwargs)
    )  # fmt: skip
