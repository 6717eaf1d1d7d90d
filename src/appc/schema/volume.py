"""Volumes of a pod (pods.md), and rkt's ``name,kind=…,key=value`` string form of them."""

from __future__ import annotations

import re
from typing import Any

from msgspec import Struct

from appc.errors import ValidationError
from appc.schema.field import boolean, describe, integer, join, obj, required, string
from appc.schema.name import ac_name

EMPTY_DEFAULT_MODE = "0755"
_MODE = re.compile(r"0?[0-7]{3,4}")


class Volume(Struct, frozen=True):
    """A ``host`` volume (``source``) or an ``empty`` one (``mode``, ``uid``, ``gid``)."""

    name: str
    kind: str
    source: str = ""
    read_only: bool | None = None
    recursive: bool | None = None
    mode: str | None = None
    uid: int | None = None
    gid: int | None = None

    def __post_init__(self) -> None:
        check_volume(self)

    @classmethod
    def from_json(cls, value: object, path: str = "") -> Volume:
        doc = obj(value, path)
        name = ac_name(required(doc, "name", path), join(path, "name"))
        kind = string(required(doc, "kind", path), join(path, "kind"))
        fields: dict[str, Any] = {"name": name, "kind": kind}
        for key, attr, read in _JSON_FIELDS:
            if doc.get(key) is not None:
                fields[attr] = read(doc[key], join(path, key))
        try:
            return cls(**_with_defaults(fields))
        except ValidationError as err:
            raise err.at(path) from None

    @classmethod
    def from_string(cls, text: str) -> Volume:
        """Parse ``NAME,kind=host,source=/path,readOnly=true,recursive=false`` or
        ``NAME,kind=empty,mode=0755,uid=0,gid=0`` as rkt's ``--volume`` takes it."""
        name, *params = text.split(",")
        fields: dict[str, Any] = {"name": ac_name(name, "volume name")}
        for param in params:
            key, sep, raw = param.partition("=")
            attr = _STRING_FIELDS.get(key)
            if not sep or attr is None:
                raise ValidationError(
                    f"unknown volume parameter {describe(param)}: expected one of kind, source, "
                    "readOnly, recursive, mode, uid, gid",
                    f"volume {name}",
                )
            if attr in fields:
                raise ValidationError(f"volume parameter {key!r} given twice", f"volume {name}")
            fields[attr] = _parse_string_value(attr, key, raw, name)
        if "kind" not in fields:
            raise ValidationError(
                "kind is required: expected kind=host or kind=empty", f"volume {name}"
            )
        try:
            return cls(**_with_defaults(fields))
        except ValidationError as err:
            raise err.at(f"volume {name}") from None

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "kind": self.kind}
        if self.source:
            doc["source"] = self.source
        for key, attr, _ in _JSON_FIELDS[1:]:
            value = getattr(self, attr)
            if value is not None:
                doc[key] = value
        return doc

    def __str__(self) -> str:
        parts = [self.name, f"kind={self.kind}"]
        if self.source:
            parts.append(f"source={self.source}")
        if self.read_only is not None:
            parts.append(f"readOnly={str(self.read_only).lower()}")
        if self.recursive is not None:
            parts.append(f"recursive={str(self.recursive).lower()}")
        if self.kind == "empty":
            if self.mode != EMPTY_DEFAULT_MODE:
                parts.append(f"mode={self.mode}")
            if self.uid:
                parts.append(f"uid={self.uid}")
            if self.gid:
                parts.append(f"gid={self.gid}")
        return ",".join(parts)


def _mode(value: object, path: str) -> str:
    text = string(value, path)
    if not _MODE.fullmatch(text):
        raise ValidationError(
            f"{describe(text)} is not a valid mode: expected an octal permission such as 0755",
            path,
        )
    return text


def _id(value: object, path: str) -> int:
    return integer(value, path, low=0, high=2**32 - 2)


_JSON_FIELDS: tuple[tuple[str, str, Any], ...] = (
    ("source", "source", string),
    ("readOnly", "read_only", boolean),
    ("recursive", "recursive", boolean),
    ("mode", "mode", _mode),
    ("uid", "uid", _id),
    ("gid", "gid", _id),
)
_STRING_FIELDS = {"kind": "kind"} | {key: attr for key, attr, _ in _JSON_FIELDS}


def _parse_string_value(attr: str, key: str, raw: str, name: str) -> object:
    where = f"volume {name}: {key}"
    if attr in ("read_only", "recursive"):
        # Go's strconv.ParseBool spellings, which rkt's flag parsing used.
        if raw in ("1", "t", "T", "true", "TRUE", "True"):
            return True
        if raw in ("0", "f", "F", "false", "FALSE", "False"):
            return False
        raise ValidationError(f"{describe(raw)} is not valid: expected true or false", where)
    if attr in ("uid", "gid"):
        if not re.fullmatch(r"[0-9]+", raw):
            raise ValidationError(f"{describe(raw)} is not valid: expected an integer", where)
        return _id(int(raw), where)
    if attr == "mode":
        return _mode(raw, where)
    return raw


def _with_defaults(fields: dict[str, Any]) -> dict[str, Any]:
    # pods.md: an empty volume's mode defaults to 0755 and its uid and gid to 0.
    if fields.get("kind") == "empty":
        fields.setdefault("mode", EMPTY_DEFAULT_MODE)
        fields.setdefault("uid", 0)
        fields.setdefault("gid", 0)
    return fields


def check_volume(volume: Volume) -> None:
    if volume.kind == "host":
        if not volume.source:
            raise ValidationError("a host volume needs a source", "source")
        if not volume.source.startswith("/"):
            raise ValidationError(
                f"{describe(volume.source)} is not valid: expected an absolute host path",
                "source",
            )
        for attr, key in (("mode", "mode"), ("uid", "uid"), ("gid", "gid")):
            if getattr(volume, attr) is not None:
                raise ValidationError(f"{key} cannot be set on a host volume", key)
    elif volume.kind == "empty":
        if volume.source:
            raise ValidationError("an empty volume cannot have a source", "source")
        if volume.mode is None or volume.uid is None or volume.gid is None:
            raise ValidationError("an empty volume needs mode, uid and gid")
    else:
        raise ValidationError(
            f'{describe(volume.kind)} is not a valid volume kind: expected "host" or "empty"',
            "kind",
        )
