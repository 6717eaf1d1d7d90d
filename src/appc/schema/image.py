"""The image manifest (aci.md "Image Manifest Schema")."""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from appc.errors import ValidationError
from appc.schema import document, raw
from appc.schema.annotations import Annotation, annotations_to_json, parse_annotations
from appc.schema.app import App
from appc.schema.dependency import Dependency, parse_dependencies
from appc.schema.field import describe, join, lst, obj, required, string
from appc.schema.isolator import with_texts
from appc.schema.labels import Label, labels_to_json, parse_labels
from appc.schema.name import IMAGE_MANIFEST_KIND, ac_identifier, ac_kind
from appc.schema.semver import SemVer


class ImageManifest(Struct, frozen=True):
    name: str
    ac_version: SemVer
    labels: tuple[Label, ...] = ()
    app: App | None = None
    annotations: tuple[Annotation, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    path_whitelist: tuple[str, ...] = ()

    @classmethod
    def from_json(cls, data: bytes | str) -> ImageManifest:
        manifest = cls.from_value(document.decode(data, "image manifest"))
        if manifest.app is not None and manifest.app.isolators:
            texts = raw.image_isolator_texts(data)
            app = replace(manifest.app, isolators=with_texts(manifest.app.isolators, texts))
            manifest = replace(manifest, app=app)
        return manifest

    @classmethod
    def from_value(cls, value: object) -> ImageManifest:
        doc = obj(value, "")
        # The reference crashes on a manifest without acKind; types.md requires it.
        ac_kind(required(doc, "acKind", ""), "acKind", IMAGE_MANIFEST_KIND)
        version = SemVer.parse(required(doc, "acVersion", ""), "acVersion")
        name = ac_identifier(required(doc, "name", ""), "name")
        app_value = doc.get("app")
        whitelist = tuple(
            _absolute(item, join("pathWhitelist", i))
            for i, item in enumerate(lst(doc.get("pathWhitelist") or [], "pathWhitelist"))
        )
        return cls(
            name=name,
            ac_version=version,
            labels=parse_labels(doc.get("labels"), "labels"),
            app=None if app_value is None else App.from_json(app_value, "app"),
            annotations=parse_annotations(doc.get("annotations"), "annotations"),
            dependencies=parse_dependencies(doc.get("dependencies"), "dependencies"),
            path_whitelist=whitelist,
        )

    def to_value(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "acKind": IMAGE_MANIFEST_KIND,
            "acVersion": str(self.ac_version),
            "name": self.name,
        }
        if self.labels:
            doc["labels"] = labels_to_json(self.labels)
        if self.app is not None:
            doc["app"] = self.app.to_json()
        if self.annotations:
            doc["annotations"] = annotations_to_json(self.annotations)
        if self.dependencies:
            doc["dependencies"] = [d.to_json() for d in self.dependencies]
        if self.path_whitelist:
            doc["pathWhitelist"] = list(self.path_whitelist)
        return doc

    def to_json(self, pretty: bool = False) -> bytes:
        return document.encode(self.to_value(), pretty=pretty)

    def label(self, name: str) -> str | None:
        for label in self.labels:
            if label.name == name:
                return label.value
        return None


def _absolute(value: object, path: str) -> str:
    # aci.md: "whitelist of absolute paths".
    text = string(value, path)
    if not text.startswith("/"):
        raise ValidationError(f"{describe(text)} is not valid: expected an absolute path", path)
    return text
