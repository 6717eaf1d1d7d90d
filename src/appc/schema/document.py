"""Decoding and encoding manifest documents.

Decoding goes through msgspec (fast, and its errors give the byte offset). Encoding mirrors Go's
encoding/json, which the reference tools use, so that manifests we write compare byte for byte:
no spaces in compact form, four-space indentation when pretty (Go's ``MarshalIndent``), ``<``,
``>``, ``&``, U+2028 and U+2029 escaped, ``\\b`` and ``\\f`` spelled ``\\u0008`` and
``\\u000c`` (Go before 1.22; Debian's reference actool is built with 1.19), and isolator values
copied as their original JSON text (Go keeps them as ``json.RawMessage``), see :func:`raw_text`.
"""

from __future__ import annotations

import re
from typing import Any

import msgspec

from appc.errors import ValidationError

#: manifests larger than this are refused before parsing (docs/security.md: limits on everything an
#: image controls); real manifests are a few kilobytes.
MAX_MANIFEST_SIZE = 1 << 20
#: nesting deeper than this is refused (isolator values are arbitrary JSON).
MAX_DEPTH = 64

_HTML_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)
# Whole escape pairs, so that an escaped backslash followed by "b" stays as it is.
_ESCAPE_PAIR = re.compile(rb"\\.")
_GO_PAIRS = {b"\\b": b"\\u0008", b"\\f": b"\\u000c"}
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def decode(data: bytes | str, what: str = "manifest", *, limit: int = MAX_MANIFEST_SIZE) -> Any:
    if len(data) > limit:
        raise ValidationError(f"{what} is {len(data)} bytes: expected at most {limit}")
    try:
        value = msgspec.json.decode(data)
    except RecursionError:
        # msgspec recurses per level of nesting: far deeper than MAX_DEPTH, it runs out of
        # stack before _check_depth could say so.
        raise ValidationError(f"{what} nests deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as err:
        raise ValidationError(
            f"{what} is not valid UTF-8 at byte {err.start}: JSON text must be Unicode"
        ) from None
    except msgspec.DecodeError as err:
        value = _decode_lenient(data, what, err)
    _check_depth(value, what)
    return value


def _decode_lenient(data: bytes | str, what: str, err: Exception) -> Any:
    """msgspec refuses ``\\ud800`` escapes that RFC 4627's grammar allows; the standard library
    reads them, and, as Go does, lone surrogates become U+FFFD."""
    import json

    try:
        value = json.loads(data, parse_constant=_no_constant)
    except (ValueError, RecursionError):
        message = str(err)
        if message[:1].isupper() and message[1:2].islower():
            message = message[0].lower() + message[1:]
        raise ValidationError(f"{what} is not valid JSON: {message}") from None
    return _replace_surrogates(value)


def _no_constant(name: str) -> Any:
    """``NaN`` and ``Infinity`` are not JSON (RFC 8259 section 6), though Python reads them."""
    raise ValueError(f"{name} is not a JSON number")


def _replace_surrogates(value: Any) -> Any:
    if isinstance(value, str):
        return _LONE_SURROGATE.sub("\ufffd", value)
    if isinstance(value, list):
        return [_replace_surrogates(item) for item in value]
    if isinstance(value, dict):
        return {_replace_surrogates(k): _replace_surrogates(v) for k, v in value.items()}
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


def _go_escape(text: bytes) -> bytes:
    for raw, escaped in _HTML_ESCAPES:
        if raw in text:
            text = text.replace(raw, escaped)
    return text


def _go_controls(value: Any) -> Any:
    """Strings holding a backspace or form feed, pre-encoded the old Go way as ``Raw``.

    msgspec writes them as ``\\b`` and ``\\f``. The fix is applied to decoded strings only, never
    to the raw isolator texts, which Go copies as they were written."""
    if isinstance(value, str):
        if "\b" in value or "\f" in value:
            text = msgspec.json.encode(value)
            return msgspec.Raw(_ESCAPE_PAIR.sub(lambda m: _GO_PAIRS.get(m[0], m[0]), text))
        return value
    if isinstance(value, list):
        return [_go_controls(item) for item in value]
    if isinstance(value, dict):
        return {key: _go_controls(item) for key, item in value.items()}
    return value


def raw_text(raw: bytes) -> bytes:
    """An isolator value's JSON text as Go re-emits a ``json.RawMessage``: compacted, with the
    HTML characters escaped, numbers and escapes otherwise as written."""
    try:
        compact = msgspec.json.format(raw, indent=-1)
    except msgspec.DecodeError:
        return b""  # not representable verbatim (lone surrogates): encode the decoded value
    for raw_char, escaped in _HTML_ESCAPES:
        if raw_char in compact:
            compact = compact.replace(raw_char, escaped)
    return compact


def encode(doc: Any, *, pretty: bool = False) -> bytes:
    """Encode a document made of JSON values and ``msgspec.Raw`` texts as Go would."""
    text = _go_escape(msgspec.json.encode(_go_controls(doc)))
    if pretty:
        text = msgspec.json.format(text, indent=4)
    return text
