"""Readers for JSON's basic shapes that report the JSON path of a wrong value."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NoReturn, TypeVar

from appc.errors import ValidationError

JSONObject = Mapping[str, Any]
T = TypeVar("T")


def describe(value: object) -> str:
    """A short rendering of a JSON value for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        text = value if len(value) <= 80 else value[:77] + "..."
        return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return str(value)


def fail(path: str, value: object, expected: str) -> NoReturn:
    raise ValidationError(f"{describe(value)} is not valid: expected {expected}", path)


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def obj(value: object, path: str) -> JSONObject:
    if not isinstance(value, dict):
        fail(path, value, "an object")
    return value


def lst(value: object, path: str) -> list[Any]:
    if not isinstance(value, list):
        fail(path, value, "a list")
    return value


def string(value: object, path: str) -> str:
    if not isinstance(value, str):
        fail(path, value, "a string")
    return value


def boolean(value: object, path: str) -> bool:
    if not isinstance(value, bool):
        fail(path, value, "true or false")
    return value


def integer(value: object, path: str, *, low: int | None = None, high: int | None = None) -> int:
    """An integer JSON number within ``[low, high]``; like Go's decoder, ``3.0`` is not one."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, value, "an integer")
    if low is not None and value < low:
        fail(path, value, f"an integer >= {low}")
    if high is not None and value > high:
        fail(path, value, f"an integer <= {high}")
    return value


def required(doc: JSONObject, key: str, path: str) -> Any:
    """The value of a required member; a missing member or ``null`` is an error."""
    value = doc.get(key)
    if value is None:
        raise ValidationError(f"{key!r} is required", join(path, key))
    return value


def optional_list(doc: JSONObject, key: str, path: str) -> list[Any]:
    """A list member that may be absent or ``null`` (read as empty)."""
    value = doc.get(key)
    if value is None:
        return []
    return lst(value, join(path, key))


def string_map(value: object, path: str) -> dict[str, str]:
    """An object whose values must all be strings (userAnnotations, userLabels)."""
    if value is None:
        return {}
    doc = obj(value, path)
    for key, item in doc.items():
        string(item, join(path, key))
    return dict(doc)


def items(value: object, path: str, read: Callable[[object, str], T]) -> tuple[T, ...]:
    """A list that may be absent or ``null``; each item is read at its own path."""
    if value is None:
        return ()
    return tuple(read(item, join(path, index)) for index, item in enumerate(lst(value, path)))


def name_value(
    value: object, path: str, read_name: Callable[[object, str], str]
) -> tuple[str, str]:
    """A ``{"name": …, "value": "…"}`` object (labels, annotations, environment): aci.md
    requires both members."""
    doc = obj(value, path)
    name = read_name(required(doc, "name", path), join(path, "name"))
    text = string(required(doc, "value", path), join(path, "value"))
    return name, text
