"""Checking and repairing the agreement between the index and the files of the store.

The commit point of every change is the index row: a blob or tree is written (and synced)
before its row, and removed after it. So after any crash the only possible disagreement is a
file without a row: the leftover of an interrupted import or render, unreachable and harmless.
:func:`verify` and :func:`collect_orphans` both delete such files ("the next command finishes
the job"), looking again under the image's or tree's lock before judging a file an orphan,
because an import or render in progress holds that lock between its rename and its row; what
:func:`verify` then reports is real damage only.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
from collections.abc import Collection
from typing import TYPE_CHECKING

from rkt.store.blobs import blob_hash, clean_temp, list_blobs
from rkt.store.lock import acquire, locked
from rkt.store.tree import remove_tree, tree_hash

if TYPE_CHECKING:
    from rkt.store.store import Store


def _image_ids(store: Store) -> set[str]:
    return {row[0] for row in store.index.read("SELECT id FROM images")}


def _tree_rows(store: Store) -> dict[str, str]:
    return dict(store.index.read("SELECT id, hash FROM trees"))


def _tree_dirs(store: Store) -> list[str]:
    try:
        return sorted(os.listdir(store.datadir.trees))
    except FileNotFoundError:
        return []


def verify(store: Store) -> list[str]:
    return [problem for problem, _image, _kind in _check(store)]


#: What damage :func:`_check` found: the image's blob (missing, unreadable or not matching its
#: ID) or its rendered tree (modified, unreadable).
BLOB, TREE = "blob", "tree"


def repair(store: Store, keep: Collection[str]) -> list[str]:
    """Check the store and repair what can be: an image whose blob is missing or damaged is
    removed (nothing can be rendered or exported from it: fetch it again), a modified tree is
    rendered again from its blob; unless pods use the image (``keep``), whose trees stay as
    they are under the pods. Returns each problem with what was done about it."""
    from rkt.errors import RktError
    from rkt.store.tree import remove_tree

    report: list[str] = []
    damaged_blobs = set()
    for problem, image_id, kind in _check(store):
        if image_id in keep:
            report.append(f"{problem}: kept, pods use it (fetch it again once they are gone)")
            continue
        if kind == BLOB:
            damaged_blobs.add(image_id)
            try:
                store.remove(image_id)
                report.append(f"{problem}: image removed (fetch it again)")
            except RktError as err:
                report.append(f"{problem}: cannot remove the image: {err}")
            continue
        if image_id in damaged_blobs:
            continue
        with locked(store.datadir.locks / f"tree-{image_id}"):
            _delete_tree_row(store, image_id)
            remove_tree(store.datadir.tree(image_id))
        try:
            store.render(image_id)
            report.append(f"{problem}: rendered again")
        except RktError as err:
            report.append(f"{problem}: removed; cannot render it again: {err}")
    return report


def drop_rows_without_blobs(store: Store, keep: Collection[str]) -> list[str]:
    """gc's cheap repair (no hashing): images whose blob is gone, unless pods use them."""
    from rkt.errors import RktError

    dropped = []
    for image_id in sorted(_image_ids(store) - set(keep)):
        if not store.datadir.blob(image_id).exists():
            with contextlib.suppress(RktError):
                store.remove(image_id)
                dropped.append(image_id)
    return dropped


def _check(store: Store) -> list[tuple[str, str, str]]:
    """(problem, image ID, BLOB or TREE) for every damage found."""
    _sweep_orphans(store)
    datadir = store.datadir
    problems: list[tuple[str, str, str]] = []
    sizes = dict(store.index.read("SELECT id, size FROM images"))
    for image_id, size in sorted(sizes.items()):
        blob = datadir.blob(image_id)
        try:
            actual = blob_hash(blob)
        except FileNotFoundError:
            problems.append((f"image {image_id}: blob {blob} is missing", image_id, BLOB))
            continue
        except OSError as err:
            problems.append(
                (f"image {image_id}: cannot read blob {blob}: {err.strerror}", image_id, BLOB)
            )
            continue
        if actual != image_id:
            problems.append((f"image {image_id}: blob {blob} has hash {actual}", image_id, BLOB))
        elif os.path.getsize(blob) != size:
            problems.append((f"image {image_id}: blob {blob} is not {size} bytes", image_id, BLOB))
    trees = _tree_rows(store)
    for image_id, digest in sorted(trees.items()):
        rootfs = datadir.tree(image_id) / "rootfs"
        if image_id not in sizes:
            problems.append((f"tree {datadir.tree(image_id)} belongs to no image", image_id, TREE))
        try:
            actual, _size = tree_hash(rootfs)
        except OSError as err:
            reason = f"tree {rootfs}: cannot be read: {err.strerror or err}"
            problems.append((reason, image_id, TREE))
            continue
        if actual != digest:
            problems.append(
                (f"tree {rootfs} was modified: its hash is {actual}, not {digest}", image_id, TREE)
            )
    return problems


def collect_orphans(store: Store, cutoff: float) -> None:
    """Delete files without rows, rows of trees without files, unlocked temporary entries
    (others than the store's only when older than ``cutoff``), and unused lock files."""
    _sweep_orphans(store)
    clean_temp(store.datadir.tmp, others_older_than=cutoff)
    _drop_lock_files(store)


def _sweep_orphans(store: Store) -> None:
    """Blobs and trees without rows, and tree rows without trees, each judged under its lock."""
    datadir = store.datadir
    images = _image_ids(store)
    for image_id in set(list_blobs(datadir.blobs)) - images:
        with locked(datadir.image_locks / f"image-{image_id}", group=True):
            if not store.index.read("SELECT 1 FROM images WHERE id = ?", (image_id,)):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(datadir.blob(image_id))
    trees = _tree_rows(store)
    for name in _tree_dirs(store):
        if name in trees and name in images:
            continue
        with locked(datadir.locks / f"tree-{name}"):
            current = _tree_rows(store)
            if name not in current or name not in _image_ids(store):
                _delete_tree_row(store, name)
                remove_tree(datadir.tree(name))
    for image_id in trees:
        if not (datadir.tree(image_id) / "rootfs").is_dir():
            with locked(datadir.locks / f"tree-{image_id}"):
                if not (datadir.tree(image_id) / "rootfs").is_dir():
                    _delete_tree_row(store, image_id)


def _delete_tree_row(store: Store, image_id: str) -> None:
    def delete(db: sqlite3.Connection) -> None:
        db.execute("DELETE FROM trees WHERE id = ?", (image_id,))

    store.index.write(delete)


def _drop_lock_files(store: Store) -> None:
    """Lock files of images that are gone; each is deleted only while we hold it."""
    images = _image_ids(store)
    # Images' locks were in locks/ before they moved to cas/imagelocks.
    for directory, kinds in ((store.datadir.image_locks, ("image",)),
                             (store.datadir.locks, ("image", "tree"))):  # fmt: skip
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            kind, _, image_id = name.partition("-")
            if kind not in kinds or image_id in images:
                continue
            lock = acquire(directory / name, wait=False, group=kind == "image")
            if lock is not None:
                with lock:
                    if image_id not in _image_ids(store):
                        lock.unlink()
