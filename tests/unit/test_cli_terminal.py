"""Escaping what images and pods control in human-readable output (rkt.cli.terminal)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from rkt.cli.image_list import tabulate
from rkt.cli.terminal import printable


def test_controls_are_escaped_as_go_quotes_them() -> None:
    assert printable("1\x1b]0;owned\x07\nforged") == "1\\x1b]0;owned\\a\\nforged"
    assert printable("a\tb\rc\x00d\x7fe\x9bf") == "a\\tb\\rc\\x00d\\x7fe\\x9bf"
    assert printable("evil\u202etxt.exe") == "evil\\u202etxt.exe"
    assert printable("plain café ✓") == "plain café ✓"


@given(st.text())
def test_nothing_unsafe_survives(text: str) -> None:
    shown = printable(text)
    assert not any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F for c in shown)
    assert not any(0x202A <= ord(c) <= 0x202E or 0x2066 <= ord(c) <= 0x2069 for c in shown)


def test_tables_escape_every_cell() -> None:
    table = tabulate([["NAME", "VERSION"], ["a\nb", "\x1b[2J"]])
    assert table.count("\n") == 2
    assert "\\n" in table and "\\x1b[2J" in table
