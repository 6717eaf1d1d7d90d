"""Dependencies of an image (aci.md "dependencies", "Dependency Matching")."""

from __future__ import annotations

from typing import Any

from msgspec import Struct

from appc.schema.field import integer, items, join, obj, required
from appc.schema.hash import image_id
from appc.schema.labels import Label, labels_to_json, parse_labels
from appc.schema.name import ac_identifier


class Dependency(Struct, frozen=True):
    image_name: str
    image_id: str | None = None
    labels: tuple[Label, ...] = ()
    size: int = 0

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"imageName": self.image_name}
        if self.image_id is not None:
            doc["imageID"] = self.image_id
        if self.labels:
            doc["labels"] = labels_to_json(self.labels)
        if self.size:
            doc["size"] = self.size
        return doc


def parse_dependency(value: object, path: str) -> Dependency:
    doc = obj(value, path)
    name = ac_identifier(required(doc, "imageName", path), join(path, "imageName"))
    raw_id = doc.get("imageID")
    dep_id = None if raw_id is None else image_id(raw_id, join(path, "imageID"))
    labels = parse_labels(doc.get("labels"), join(path, "labels"))
    raw_size = doc.get("size")
    size = 0 if raw_size is None else integer(raw_size, join(path, "size"), low=0)
    return Dependency(name, dep_id, labels, size)


def parse_dependencies(value: object, path: str) -> tuple[Dependency, ...]:
    return items(value, path, parse_dependency)
