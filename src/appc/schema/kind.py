"""Telling which kind of manifest a JSON document is (``acKind``), as ``actool validate`` must."""

from __future__ import annotations

from appc.errors import ValidationError
from appc.schema import document
from appc.schema.field import obj, required, string
from appc.schema.image import ImageManifest
from appc.schema.name import IMAGE_MANIFEST_KIND, POD_MANIFEST_KIND
from appc.schema.pod import PodManifest

Manifest = ImageManifest | PodManifest


def parse_manifest(data: bytes) -> Manifest:
    """Parse an image or a pod manifest, chosen by its ``acKind``."""
    doc = obj(document.decode(data), "")
    kind = string(required(doc, "acKind", ""), "acKind")
    if kind == IMAGE_MANIFEST_KIND:
        return ImageManifest.from_value(doc)
    if kind == POD_MANIFEST_KIND:
        return PodManifest.from_value(doc)
    raise ValidationError(
        f'"{kind}" is not a known kind: expected "{IMAGE_MANIFEST_KIND}" or "{POD_MANIFEST_KIND}"',
        "acKind",
    )
