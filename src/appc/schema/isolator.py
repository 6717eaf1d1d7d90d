"""Isolators (types.md, ace.md): a name, an arbitrary JSON value, and typed values for the
names ace.md defines.

Each known name maps to a reader in ``resource`` or ``linux`` that turns the JSON value into a
typed value object and checks it. Unknown names are kept with their raw value, never dropped:
ace.md lets executors ignore what they do not know, but they must be able to report it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, ClassVar

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema import document
from appc.schema.field import join, lst, obj, required
from appc.schema.name import ac_identifier


class IsolatorValue(Struct, frozen=True):
    """Base of typed isolator values; subclasses say how they combine in one list."""

    #: whether one list may hold several isolators of this name
    multiple_allowed: ClassVar[bool] = True

    def conflicts(self) -> tuple[str, ...]:
        """Names that cannot stand in the same list as this one."""
        return ()


Reader = Callable[[Any, str], IsolatorValue]


class Isolator(Struct, frozen=True):
    name: str
    #: the JSON value as given, kept so that unknown isolators and round trips lose nothing
    raw: Any
    #: the typed value for names ace.md defines, None for unknown names
    value: IsolatorValue | None
    #: the value's JSON text as read (compacted), written back verbatim as the reference does;
    #: empty for isolators built in code
    text: bytes = b""

    def to_json(self) -> dict[str, Any]:
        if self.text:
            from msgspec import Raw

            return {"name": self.name, "value": Raw(self.text)}
        return {"name": self.name, "value": self.raw}


def _readers() -> Mapping[str, Reader]:
    from appc.schema import linux, resource

    return {**resource.READERS, **linux.READERS}


def known_names() -> frozenset[str]:
    return frozenset(_readers())


def parse_isolator(
    value: object, path: str, readers: Mapping[str, Reader] | None = None
) -> Isolator:
    doc = obj(value, path)
    name = ac_identifier(required(doc, "name", path), join(path, "name"))
    # types.md: "value" is required; the reference crashes when it is missing.
    if "value" not in doc:
        raise ValidationError(f'isolator "{name}" has no value: "value" is required', path)
    raw = doc["value"]
    reader = (readers if readers is not None else _readers()).get(name)
    typed = reader(raw, join(path, "value")) if reader is not None else None
    return Isolator(name, raw, typed)


def check_isolators(isolators: Iterable[Isolator], path: str = "") -> None:
    """ace.md's rules across one list: single-instance names and mutually exclusive names."""
    seen: set[str] = set()
    for index, isolator in enumerate(isolators):
        where = join(path, index)
        value = isolator.value
        if value is not None:
            if isolator.name in seen and not value.multiple_allowed:
                raise ValidationError(
                    f'isolator "{isolator.name}" may appear only once in a list', where
                )
            for other in value.conflicts():
                if other in seen:
                    raise ValidationError(
                        f'isolator "{isolator.name}" cannot be used together with "{other}"',
                        where,
                    )
        seen.add(isolator.name)


def parse_isolators(value: object, path: str) -> tuple[Isolator, ...]:
    if value is None:
        return ()
    readers = _readers()
    isolators = tuple(
        parse_isolator(item, join(path, index), readers)
        for index, item in enumerate(lst(value, path))
    )
    check_isolators(isolators, path)
    return isolators


def with_texts(isolators: tuple[Isolator, ...], texts: list[bytes]) -> tuple[Isolator, ...]:
    """Attach the JSON texts of the values (see :mod:`appc.schema.raw`) to parsed isolators."""
    if len(texts) != len(isolators):
        return isolators
    return tuple(
        Isolator(i.name, i.raw, i.value, document.raw_text(text))
        for i, text in zip(isolators, texts, strict=True)
    )


def isolator_from_value(name: str, value: IsolatorValue, raw: Any) -> Isolator:
    """Wrap a typed value built in code (e.g. by actool patch-manifest)."""
    return Isolator(ac_identifier(name, "isolator name"), raw, value)


def by_name(isolators: Iterable[Isolator], name: str) -> Isolator | None:
    """The last isolator of a name, as the reference's GetByName returns."""
    found = None
    for isolator in isolators:
        if isolator.name == name:
            found = isolator
    return found
