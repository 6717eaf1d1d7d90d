"""Annotations and the well-known ones with typed values (aci.md, pods.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema.field import describe, items, join, name_value
from appc.schema.name import ac_identifier

# types.md "Timestamps Type": RFC 3339 date-time, with the "T" between date and time.
_RFC3339 = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})",
    re.IGNORECASE,
)


class Annotation(Struct, frozen=True):
    name: str
    value: str


def check_timestamp(text: str, path: str) -> None:
    import datetime

    match = _RFC3339.fullmatch(text)
    valid = match is not None
    if match is not None:
        year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
        offset = match[8]
        try:
            # RFC 3339 5.7: the day must exist in its month; like Go, no leap second.
            datetime.datetime(year, month, day, hour, minute, second)
            if offset not in ("Z", "z"):
                valid = int(offset[1:3]) < 24 and int(offset[4:6]) < 60
        except ValueError:
            valid = False
    if not valid:
        raise ValidationError(
            f"{describe(text)} is not valid: expected an RFC 3339 timestamp such as "
            "2015-05-18T13:49:28Z",
            path,
        )


# What Go's url.Parse refuses in a host (net/url validOptionalPort, shouldEscape for hosts).
_BAD_HOST = re.compile(r"[\x00-\x20\x7f\"<>\\^`{|}%]")


def check_http_url(text: str, path: str) -> None:
    import urllib.parse

    valid = not any(ord(c) < 0x20 or ord(c) == 0x7F for c in text)
    try:
        parts = urllib.parse.urlsplit(text)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        valid = False
    else:
        host = parts.netloc.rpartition("@")[2]
        valid = valid and parts.scheme in ("http", "https") and not _BAD_HOST.search(host)
    if not valid:
        raise ValidationError(f"{describe(text)} is not valid: expected an http or https URL", path)


_WELL_KNOWN: dict[str, Callable[[str, str], None]] = {
    "created": check_timestamp,
    "homepage": check_http_url,
    "documentation": check_http_url,
}


def check_annotations(annotations: Iterable[Annotation], path: str = "") -> None:
    seen: set[str] = set()
    for index, annotation in enumerate(annotations):
        where = join(path, index)
        if annotation.name in seen:
            raise ValidationError(
                f'duplicate annotation "{annotation.name}": names must be unique', where
            )
        seen.add(annotation.name)
        check = _WELL_KNOWN.get(annotation.name)
        if check is not None:
            check(annotation.value, join(where, "value"))


def _annotation(value: object, path: str) -> Annotation:
    return Annotation(*name_value(value, path, ac_identifier))


def parse_annotations(value: object, path: str) -> tuple[Annotation, ...]:
    annotations = items(value, path, _annotation)
    check_annotations(annotations, path)
    return annotations


def annotations_to_json(annotations: Iterable[Annotation]) -> list[dict[str, str]]:
    return [{"name": a.name, "value": a.value} for a in annotations]


def get(annotations: Iterable[Annotation], name: str) -> str | None:
    for annotation in annotations:
        if annotation.name == name:
            return annotation.value
    return None
