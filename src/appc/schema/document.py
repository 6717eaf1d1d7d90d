"""Decoding and encoding manifest documents.

Decoding goes through msgspec (fast, and its errors give the byte offset); encoding mirrors Go's
encoding/json, which the reference tools use, so that manifests we write compare byte for byte:
no spaces in compact form, four-space indentation when pretty, and ``<``, ``>``, ``&``, U+2028
and U+2029 escaped.
"""

from __future__ import annotations

import json
import re
from typing import Any

from appc.errors import ValidationError

#: manifests larger than this are refused before parsing (SECURITY.md: limits on everything an
#: image controls); real manifests are a few kilobytes.
MAX_MANIFEST_SIZE = 1 << 20
#: nesting deeper than this is refused (isolator values are arbitrary JSON).
MAX_DEPTH = 64

# Characters that appear only inside strings, so plain replacement is safe.
_GO_ESCAPES = {
    "<": "\\u003c",
    ">": "\\u003e",
    "&": "\\u0026",
    "\u2028": "\\u2028",
    "\u2029": "\\u2029",
}
# Go before 1.22 (the reference is built with an older one) spells \b and \f as \u0008 and
# \u000c; matching whole escape pairs keeps an escaped backslash followed by "b" intact.
_ESCAPE_PAIR = re.compile(r"\\.")
_GO_PAIRS = {"\\b": "\\u0008", "\\f": "\\u000c"}


def decode(data: bytes | str, what: str = "manifest", *, limit: int = MAX_MANIFEST_SIZE) -> Any:
    import msgspec

    if len(data) > limit:
        raise ValidationError(f"{what} is {len(data)} bytes: expected at most {limit}")
    try:
        value = msgspec.json.decode(data)
    except msgspec.DecodeError as err:
        raise ValidationError(
            f"{what} is not valid JSON: {str(err)[0].lower()}{str(err)[1:]}"
        ) from None
    _check_depth(value, what)
    return value


def _check_depth(value: Any, what: str) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise ValidationError(f"{what} nests deeper than {MAX_DEPTH} levels")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def encode(doc: Any, *, pretty: bool = False) -> bytes:
    if pretty:
        text = json.dumps(doc, ensure_ascii=False, indent=4, allow_nan=False)
    else:
        text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    for raw, escaped in _GO_ESCAPES.items():
        if raw in text:
            text = text.replace(raw, escaped)
    if "\\b" in text or "\\f" in text:
        text = _ESCAPE_PAIR.sub(lambda m: _GO_PAIRS.get(m[0], m[0]), text)
    return text.encode("utf-8", "surrogatepass")
