"""Stored images as the API's ``Image`` messages, and ``ImageFilter`` (rkt's semantics).

Read straight from the store's sqlite index, opened for reading only (``mode=ro``: an index
that does not exist is no images, never a new file) on a connection per call, so that the
service holds nothing between calls. In WAL mode readers neither wait for nor block the
``rkt fetch``/``image rm``/``image gc`` writing meanwhile. The size is the stored image plus
its rendered tree (``rkt image list``'s), the import time in seconds, the version the
manifest's ``version`` label ("latest" without one), as rkt's API gave them.
"""

from __future__ import annotations

import posixpath
import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rkt import jsondoc
from rkt.api import v1alpha_pb2 as pb
from rkt.api.pods import APPC_VERSION, key_values
from rkt.datadir import DataDir
from rkt.errors import AmbiguousImage, ImageNotFound
from rkt.store.index import BUSY_TIMEOUT_MS, retrying

__all__ = ["find_image", "list_images", "satisfies_any"]

_COLUMNS = "id, name, import_time, size, manifest"


def _query(db_path: Path, sql: str, params: tuple[Any, ...] = ()) -> list[Any]:
    if not db_path.exists():
        return []

    def read() -> list[Any]:
        db = sqlite3.connect(f"file:{db_path}?mode=ro", uri=True, timeout=BUSY_TIMEOUT_MS / 1000)
        try:
            return db.execute(sql, params).fetchall()
        finally:
            db.close()

    return retrying(db_path, read)


def _image(row: tuple[Any, ...], tree_size: int) -> Any:
    image_id, name, import_time, size, raw = row
    manifest = bytes(raw)
    try:
        doc = jsondoc.loads(manifest)
    except ValueError:
        doc = {}
    labels = key_values(doc.get("labels")) if isinstance(doc, dict) else []
    versions = [kv.value for kv in labels if kv.Key == "version"]
    return pb.Image(
        base_format=pb.ImageFormat(type=pb.IMAGE_TYPE_APPC, version=APPC_VERSION),
        id=image_id,
        name=name,
        version=versions[0] if versions else "latest",
        import_timestamp=int(import_time) // 1_000_000_000,
        manifest=manifest,
        size=int(size) + tree_size,
        annotations=key_values(doc.get("annotations")) if isinstance(doc, dict) else [],
        labels=labels,
    )


def _tree_sizes(db_path: Path) -> dict[str, int]:
    return {str(i): int(s) for i, s in _query(db_path, "SELECT id, size FROM trees")}


def _has_all(actual: Sequence[Any], wanted: Sequence[Any]) -> bool:
    pairs = {(kv.Key, kv.value) for kv in actual}
    return all((kv.Key, kv.value) in pairs for kv in wanted)


def satisfies(image: Any, f: Any) -> bool:
    """rkt's satisfiesImageFilter: every condition of the filter holds."""
    name = image.name
    return (
        (not f.ids or image.id in f.ids)
        and (not f.full_names or name in f.full_names)
        and (not f.prefixes or any(name.startswith(p) for p in f.prefixes))
        and (not f.base_names or any(posixpath.basename(name) == b for b in f.base_names))
        and (not f.keywords or any(k in name for k in f.keywords))
        and (f.imported_after <= 0 or image.import_timestamp > f.imported_after)
        and (f.imported_before <= 0 or image.import_timestamp < f.imported_before)
        and _has_all(image.labels, f.labels)
        and _has_all(image.annotations, f.annotations)
    )


def satisfies_any(image: Any, filters: Sequence[Any]) -> bool:
    return not filters or any(satisfies(image, f) for f in filters)


def list_images(data_dir: Path, filters: Sequence[Any], detail: bool) -> list[Any]:
    """``ListImages``: in import order, as ``rkt image list`` sorts them by default."""
    db_path = DataDir(data_dir).db
    sizes = _tree_sizes(db_path)
    found = []
    for row in _query(db_path, f"SELECT {_COLUMNS} FROM images ORDER BY import_time"):
        image = _image(row, sizes.get(row[0], 0))
        if satisfies_any(image, filters):
            if not detail:
                image.ClearField("manifest")
            found.append(image)
    return found


def find_image(data_dir: Path, ref: str) -> Any:
    """``InspectImage``: by full ID or unique prefix (``sha512-`` and 2+ hex digits)."""
    key = ref.strip().lower()
    digits = key.removeprefix("sha512-")
    if (
        not key.startswith("sha512-")
        or len(digits) < 2
        or not all(c in "0123456789abcdef" for c in digits)
    ):
        raise ImageNotFound(f"invalid image ID {ref!r}", hint="expected sha512- and hex digits")
    db_path = DataDir(data_dir).db
    rows = _query(
        db_path,
        f"SELECT {_COLUMNS} FROM images WHERE id >= ? AND id < ? LIMIT 2",
        (key, key + "~"),
    )
    if not rows:
        raise ImageNotFound(f"no image with ID {ref} in the store")
    if len(rows) > 1:
        raise AmbiguousImage(f"ambiguous image ID {ref}", hint="give more of its digits")
    return _image(rows[0], _tree_sizes(db_path).get(rows[0][0], 0))
