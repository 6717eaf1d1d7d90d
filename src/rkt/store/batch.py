"""One fetch's images, committed together or not at all: :class:`ImageBatch`.

A fetch may bring several images: the one asked for and the dependencies it names. Each is
staged (validated, hashed and fsynced in ``tmp/``, rendered when it is self-contained) as it
arrives, and nothing of any of them is visible in the store until the image asked for has been
rendered *with* its dependencies from those staged blobs: an image whose tree the extractor
refuses, whose dependencies cannot be found, or whose dependencies form a cycle, is refused
whole, and the store is left as it was (no blob, no row, no tree, no temporary file).

Then :meth:`ImageBatch.commit` commits the dependencies first, the image last (each its blob,
row, tree and remembered remotes, through :meth:`Store.commit`), so that a process killed in
between leaves only whole images whose dependencies are in the store; should a commit fail,
the images this batch added are removed again.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, BinaryIO

from msgspec.structs import replace

from rkt.errors import RktError

if TYPE_CHECKING:
    from appc.schema.image import ImageManifest
    from rkt.store.blobs import StagedBlob
    from rkt.store.records import Remote
    from rkt.store.render import StagedTree
    from rkt.store.store import Store


def labels_match(labels: Mapping[str, str], wanted: Mapping[str, str]) -> bool:
    """Store.find's rule for one image: every wanted label, a ``latest`` version excepted
    (which the caller settles, as the store does, when no image is labelled ``latest``)."""
    return all(labels.get(key) == value for key, value in wanted.items() if key != "version")


def find_pending(
    pending: Mapping[str, StagedBlob], name: str, wanted: Mapping[str, str]
) -> str | None:
    """The staged image ``name`` with the ``wanted`` labels (a ``version`` of ``latest``
    matching any version when none is labelled ``latest``), the last staged first."""
    candidates = []
    for image_id, staged in reversed(list(pending.items())):
        manifest = staged.manifest
        labels = {label.name: label.value for label in manifest.labels}
        if manifest.name == name and labels_match(labels, wanted):
            candidates.append((image_id, labels.get("version")))
    version = wanted.get("version")
    if version is None:
        return candidates[0][0] if candidates else None
    exact = [image_id for image_id, v in candidates if v == version]
    if exact:
        return exact[0]
    return candidates[0][0] if candidates and version == "latest" else None


class ImageBatch:
    """Images staged for one fetch; use as a context manager, which discards whatever was
    not committed."""

    def __init__(self, store: Store) -> None:
        self.store = store
        #: staged images by ID, in the order they arrived (the image asked for first)
        self.staged: dict[str, StagedBlob] = {}
        self._remotes: list[Remote] = []

    # -- filling ---------------------------------------------------------------------------
    def stage(self, source: Path | BinaryIO) -> str:
        """Stage an ACI; returns its ID. An image already staged or in the store is kept as
        it is (the store's ``last_used`` refreshed, so a concurrent gc keeps it)."""
        staged = self.store.stage(source)
        image_id = staged.image_id
        if image_id in self.staged:
            staged.discard()
        elif self.store.exists(image_id):
            staged.discard()
            self.store.touch(image_id)
        else:
            self.staged[image_id] = staged
        return image_id

    def remember(self, remote: Remote) -> None:
        """Record ``remote`` (an HTTP cache entry) once its image is committed."""
        if remote.image_id in self.staged:
            self._remotes.append(remote)
        else:
            self.store.put_remote(remote)

    # -- lookups over the store and the staged images -----------------------------------------
    def manifest(self, image_id: str) -> ImageManifest:
        staged = self.staged.get(image_id)
        return staged.manifest if staged is not None else self.store.manifest(image_id)[1]

    def get(self, ref: str) -> str:
        """The full ID of a staged image or of one in the store."""
        return ref if ref in self.staged else self.store.get(ref).id

    def find(self, name: str, labels: Mapping[str, str]) -> str | None:
        found = find_pending(self.staged, name, labels)
        if found is not None:
            return found
        record = self.store.find(name, labels)
        return record.id if record is not None else None

    # -- the end ---------------------------------------------------------------------------
    def commit(self, image_id: str) -> None:
        """Render ``image_id`` with its dependencies, then commit every staged image (the
        dependencies first) with its tree and remotes; see the module's docstring."""
        top = self.staged.get(image_id)
        if (
            top is None
            and not self.staged
            and (not self.store.renders or self.store.is_rendered(image_id))
        ):
            return  # an image of the store, as it was (what runs of stored images ask)
        from rkt.store.render import fill_tree

        tree: StagedTree | None = None
        if not self.store.renders:
            pass  # a member of the data dir's group: the first prepare renders it (root)
        elif top is not None and top.tree is None:
            tree = fill_tree(self.store, image_id, self.staged)
            top = replace(top, tree=tree)
            self.staged[image_id] = top
        elif top is None and not self.store.is_rendered(image_id):
            tree = fill_tree(self.store, image_id, self.staged)
        added: list[str] = []
        try:
            for staged_id in reversed(list(self.staged)):
                staged = self.staged.pop(staged_id)
                try:
                    record, was_added = self.store.commit_added(staged)
                    if was_added:
                        added.append(record.id)
                    for remote in self._remotes:
                        if remote.image_id == staged_id:
                            self.store.put_remote(remote)
                finally:
                    staged.discard()
            if top is None and tree is not None:
                from rkt.store.render import commit_prerendered

                commit_prerendered(self.store, tree)
        except BaseException:
            for added_id in reversed(added):
                with contextlib.suppress(RktError):
                    self.store.remove(added_id)
            raise
        finally:
            if top is None and tree is not None:
                tree.discard()

    def discard(self) -> None:
        for staged in self.staged.values():
            staged.discard()
        self.staged.clear()
        self._remotes.clear()

    def __enter__(self) -> ImageBatch:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.discard()
