"""Text meant for a terminal: what a pod or an image controls is escaped before it is shown.

Image names, labels, app names, annotations and error messages quoting them come from images
and pod manifests, which are hostile (docs/security.md, "Images are hostile"). Printed raw, an
escape sequence in a label can retitle the window, rewrite what is on the screen or, on some
terminals, answer back into the shell's input; a newline forges a row of ``rkt list``. Human
output therefore shows C0 and C1 control characters, DEL and the Unicode bidirectional
overrides as Go's ``%q`` would (``\\x1b``, ``\\n``, ``\\u202e``); JSON output stays exact.
"""

from __future__ import annotations

import re

__all__ = ["printable"]

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t", "\b": "\\b", "\f": "\\f", "\v": "\\v",
          "\a": "\\a"}  # fmt: skip
#: C0, DEL, C1, and the bidirectional embeddings, overrides and isolates (Trojan Source).
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    char = match.group()
    named = _NAMED.get(char)
    if named is not None:
        return named
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def printable(text: str) -> str:
    """``text`` with every control character escaped (see the module docstring)."""
    return _UNSAFE.sub(_escape, text)
