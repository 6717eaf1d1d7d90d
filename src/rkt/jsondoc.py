"""Reading JSON that rkt did not just make itself: configuration files, CNI plugins' output
and caches, pod manifests and the records in pod directories (which other tools and damage
can change).

:func:`loads` is ``json.loads`` for such text, with the failures a hostile or damaged file
can cause turned into :class:`JSONError` (a ``ValueError``, which every caller already
catches for malformed JSON): nesting deeper than :data:`MAX_DEPTH` (the standard library and
msgspec both recurse per level and end in ``RecursionError``), invalid UTF-8, numbers out of
range and the non-JSON ``NaN`` and ``Infinity`` that ``json.loads`` accepts. Duplicate keys
keep the last value, as Go's encoding/json (which rkt used) does.
"""

from __future__ import annotations

from typing import Any

import msgspec

#: Deeper nesting is refused; rkt's documents nest a few levels (CNI results, manifests ~6).
MAX_DEPTH = 64


class JSONError(ValueError):
    """The text is not JSON rkt can read; the message is one lower-case line."""


def loads(data: bytes | str) -> Any:
    try:
        value = msgspec.json.decode(data)
    except RecursionError:
        raise JSONError(f"JSON nests deeper than {MAX_DEPTH} levels") from None
    except UnicodeDecodeError as err:
        raise JSONError(f"not valid JSON: not UTF-8 at byte {err.start}") from None
    except msgspec.DecodeError as err:
        message = str(err).removeprefix("JSON is malformed: ")
        if message[:1].isupper() and message[1:2].islower():
            message = message[0].lower() + message[1:]
        raise JSONError(f"not valid JSON: {message}") from None
    check_depth(value)
    return value


def check_depth(value: Any, limit: int = MAX_DEPTH) -> None:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            raise JSONError(f"JSON nests deeper than {limit} levels")
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
