"""The :class:`Store` facade: images in, records, trees and files out (docs/image-half.md)."""

from __future__ import annotations

import builtins
import contextlib
import json
import os
import re
import time
from collections.abc import Collection, Mapping
from datetime import timedelta
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING, Any, BinaryIO

from rkt.datadir import DataDir, make_dir
from rkt.errors import AmbiguousImage, ImageNotFound, RktError, StoreError
from rkt.store import blobs
from rkt.store.index import Index
from rkt.store.lock import locked
from rkt.store.records import ImageRecord, Remote, to_datetime, to_ns
from rkt.store.tree import remove_tree

if TYPE_CHECKING:
    from appc.aci.limits import Limits
    from appc.schema.image import ImageManifest

_ID = re.compile(r"sha512-[0-9a-f]{2,128}")
_FULL_ID_LENGTH = len("sha512-") + 128
_COLUMNS = "id, name, labels, import_time, last_used, size"


def _record(row: tuple[Any, ...]) -> ImageRecord:
    image_id, name, labels, import_time, last_used, size = row
    return ImageRecord(
        image_id,
        name,
        tuple((k, v) for k, v in json.loads(labels)),
        to_datetime(import_time),
        to_datetime(last_used),
        size,
    )


class Store:
    """The image store under one data dir; safe to use from many processes at once."""

    def __init__(self, datadir: DataDir) -> None:
        self.datadir = datadir
        try:
            datadir.create()
        except OSError as err:
            raise StoreError(f"cannot create the data dir {datadir.root}: {err.strerror}") from err
        self.index = Index(datadir.db)
        blobs.clean_temp(datadir.tmp)  # leftovers of killed imports and renders
        # Trees are root's (cas/tree is 2700, as rkt made it): a member of the data dir's group
        # fetches images, and the first prepare renders them.
        self.renders = os.access(datadir.trees, os.W_OK)

    def close(self) -> None:
        self.index.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # Locks: always an image's lock before its tree's, so remove and gc cannot deadlock.
    def _image_lock(self, image_id: str) -> Path:
        return self.datadir.image_locks / f"image-{image_id}"

    def _tree_lock(self, image_id: str) -> Path:
        return self.datadir.locks / f"tree-{image_id}"

    # -- import -------------------------------------------------------------------------
    def import_aci(self, source: Path | BinaryIO, *, limits: Limits | None = None) -> ImageRecord:
        """Validate and store an ACI (any compression); an image already present is returned
        as it is, with ``last_used`` refreshed so a concurrent gc keeps it.

        An image without dependencies is rendered before anything is committed, so that one
        whose tree the extractor refuses never enters the store."""
        staged = self.stage(source, limits=limits)
        try:
            return self.commit(staged)
        finally:
            staged.discard()

    def stage(self, source: Path | BinaryIO, *, limits: Limits | None = None) -> blobs.StagedBlob:
        """Validate an ACI into a synced temporary blob in ``tmp/``, rendered too when it is
        self-contained, without committing anything: :meth:`commit` it, or ``discard()`` it
        (rkt.store.batch stages an image and its dependencies before committing any)."""
        if limits is None:
            from appc.aci.limits import DEFAULT_LIMITS

            limits = DEFAULT_LIMITS
        from msgspec.structs import replace

        from rkt.store.render import StagedTree, render_staged

        where = str(source) if isinstance(source, Path) else getattr(source, "name", "<stream>")
        new_tree = (lambda: StagedTree(self, where=str(where))) if self.renders else None
        staged = blobs.stage(self.datadir.tmp, source, limits, new_tree)
        try:
            if self.renders and staged.tree is None and blobs.self_contained(staged.manifest):
                tree = render_staged(self, staged.path, staged.image_id, str(where))
                staged = replace(staged, tree=tree)
        except BaseException:
            staged.discard()
            raise
        return staged

    def commit(self, staged: blobs.StagedBlob, remote: Remote | None = None) -> ImageRecord:
        """Commit a staged image: the blob and its row, then its rendered tree (if staged),
        then ``remote`` (whose ``image_id`` is set here). An image already present is kept
        as it is. When anything after the row fails, the image this call added is removed
        again, so a failed import leaves nothing behind. The caller discards ``staged``."""
        return self.commit_added(staged, remote)[0]

    def commit_added(
        self, staged: blobs.StagedBlob, remote: Remote | None = None
    ) -> tuple[ImageRecord, bool]:
        """:meth:`commit`, and whether this call added the image (False: it was there)."""
        record, added = self._commit_blob(staged)
        try:
            if staged.tree is not None:
                from rkt.store.render import commit_prerendered

                # The image is committed first: a tree is only ever recorded for an image.
                staged.tree.image_id = staged.image_id
                with locked(self._image_lock(staged.image_id), group=True):
                    if self._exists(staged.image_id):
                        commit_prerendered(self, staged.tree)
            if remote is not None:
                from msgspec.structs import replace

                self.put_remote(replace(remote, image_id=record.id))
        except BaseException:
            if added:
                with contextlib.suppress(RktError):
                    self.remove(record.id)
            raise
        return record, added

    def _commit_blob(self, staged: blobs.StagedBlob) -> tuple[ImageRecord, bool]:
        """Rename a staged blob into place and record it; an image already there is kept
        (and False returned)."""
        with locked(self._image_lock(staged.image_id), group=True):
            if self._exists(staged.image_id):
                self.touch(staged.image_id)
                return self.get(staged.image_id), False
            blob = self.datadir.blob(staged.image_id)
            try:
                make_dir(blob.parent, 0o2770)  # the group's, as cas/blob is
                # Readable by the data dir's group (rkt's packaging: members fetch and list);
                # the content is fixed by its name, so no one writes it.
                os.fchmod(staged.fd, 0o640)
                os.replace(staged.path, blob)  # same filesystem: atomic
                blobs.sync_dir(blob.parent)
            except OSError as err:
                raise StoreError(f"cannot store {blob}: {err.strerror}") from err
            now = time.time_ns()
            manifest = staged.manifest
            labels = json.dumps([[label.name, label.value] for label in manifest.labels])
            try:
                self.index.write(
                    lambda db: db.execute(
                        "INSERT INTO images VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            staged.image_id,
                            manifest.name,
                            labels,
                            now,
                            now,
                            staged.size,
                            staged.manifest_bytes,
                        ),
                    )
                )
            except BaseException:
                # No row, so no image: the blob goes too (under the image's lock).
                with contextlib.suppress(OSError):
                    os.unlink(blob)
                raise
            return self.get(staged.image_id), True

    def _exists(self, image_id: str) -> bool:
        return bool(self.index.read("SELECT 1 FROM images WHERE id = ?", (image_id,)))

    def exists(self, image_id: str) -> bool:
        """Whether the image with the full ID ``image_id`` is in the store."""
        return self._exists(image_id)

    # -- lookups ------------------------------------------------------------------------
    def get(self, ref: str) -> ImageRecord:
        """The image with the full ID or unique ID prefix ``ref`` (``sha512-`` + 2+ hex)."""
        key = ref.strip().lower()
        if not _ID.fullmatch(key):
            raise ImageNotFound(
                f"invalid image ID {ref!r}", hint="expected sha512- and at least 2 hex digits"
            )
        if len(key) == _FULL_ID_LENGTH:
            rows = self.index.read(f"SELECT {_COLUMNS} FROM images WHERE id = ?", (key,))
        else:
            # A range on the primary key: '~' sorts after every hex digit.
            rows = self.index.read(
                f"SELECT {_COLUMNS} FROM images WHERE id >= ? AND id < ? LIMIT 2",
                (key, key + "~"),
            )
        if not rows:
            raise ImageNotFound(f"no image with ID {ref} in the store")
        if len(rows) > 1:
            raise AmbiguousImage(f"ambiguous image ID {ref}", hint="give more of its digits")
        return _record(rows[0])

    def by_name(self, name: str) -> list[ImageRecord]:
        rows = self.index.read(
            f"SELECT {_COLUMNS} FROM images WHERE name = ? ORDER BY import_time", (name,)
        )
        return [_record(row) for row in rows]

    def list(self) -> list[ImageRecord]:
        rows = self.index.read(f"SELECT {_COLUMNS} FROM images ORDER BY import_time")
        return [_record(row) for row in rows]

    def find(self, name: str, labels: Mapping[str, str]) -> ImageRecord | None:
        """The most recently imported image called ``name`` having all ``labels``; a version
        of ``latest`` matches any version when no such image is labelled ``latest``."""
        wanted = dict(labels)
        version = wanted.pop("version", None)
        candidates = [
            r
            for r in self.by_name(name)
            if all(r.label(key) == value for key, value in wanted.items())
        ]
        if version is not None:
            exact = [r for r in candidates if r.label("version") == version]
            candidates = exact if exact or version != "latest" else candidates
        return max(candidates, key=lambda r: r.import_time, default=None)

    def resolve(self, ref: str) -> ImageRecord:
        """An image by ID (prefix) or by ``name[:version][,label=value...]``, as rkt's image
        verbs take it."""
        if ref.startswith("sha512-"):
            return self.get(ref)
        from appc.discovery import App
        from appc.errors import ValidationError

        try:
            app = App.parse(ref)
        except ValidationError as err:
            raise ImageNotFound(f"cannot parse the image name {ref!r}: {err}") from err
        found = self.find(app.name, app.labels)
        if found is None:
            raise ImageNotFound(f"no image {ref!r} in the store")
        return found

    def manifest(self, image_id: str) -> tuple[bytes, ImageManifest]:
        rows = self.index.read("SELECT manifest FROM images WHERE id = ?", (image_id,))
        if not rows:
            raise ImageNotFound(f"no image with ID {image_id} in the store")
        from appc.schema.image import ImageManifest

        raw = bytes(rows[0][0])
        return raw, ImageManifest.from_json(raw)

    def open_blob(self, image_id: str) -> BinaryIO:
        path = self.datadir.blob(self.get(image_id).id)
        try:
            return open(path, "rb")
        except OSError as err:
            raise StoreError(f"cannot open the blob {path}: {err.strerror}") from err

    def touch(self, image_id: str) -> None:
        now = time.time_ns()
        self.index.write(
            lambda db: db.execute("UPDATE images SET last_used = ? WHERE id = ?", (now, image_id))
        )

    def tree_sizes(self) -> dict[str, int]:
        """Bytes of each rendered tree by image ID (rkt's image list adds them to the size)."""
        return dict(self.index.read("SELECT id, size FROM trees"))

    # -- remotes ------------------------------------------------------------------------
    def get_remote(self, aci_url: str) -> Remote | None:
        rows = self.index.read(
            "SELECT aci_url, sig_url, etag, max_age, download_time, image_id FROM remotes "
            "WHERE aci_url = ?",
            (aci_url,),
        )
        if not rows:
            return None
        url, sig, etag, max_age, when, image_id = rows[0]
        return Remote(url, sig, etag, max_age, to_datetime(when), image_id)

    def live_remote(self, aci_url: str) -> Remote | None:
        """The cache entry for ``aci_url`` if its image is still in the store (gc or
        ``rkt image rm`` may have removed it since)."""
        remote = self.get_remote(aci_url)
        if remote is None:
            return None
        try:
            self.get(remote.image_id)
        except ImageNotFound:
            return None
        return remote

    def put_remote(self, remote: Remote) -> None:
        values = (
            remote.aci_url,
            remote.sig_url,
            remote.etag,
            remote.max_age,
            to_ns(remote.download_time),
            remote.image_id,
        )
        self.index.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO remotes VALUES (?, ?, ?, ?, ?, ?)", values
            )
        )

    # -- removal ------------------------------------------------------------------------
    def remove(self, image_id: str) -> None:
        """Remove an image: its row, then its tree and blob (a crash in between leaves only
        files without rows, which gc removes)."""
        image_id = self.get(image_id).id
        if not self._remove_if(image_id, None):
            raise ImageNotFound(f"no image with ID {image_id} in the store")

    def _remove_if(self, image_id: str, used_before: int | None) -> bool:
        with (
            locked(self._image_lock(image_id), group=True) as image_lock,
            locked(self._tree_lock(image_id)),
        ):

            def delete(db: Any) -> bool:
                where, params = "id = ?", builtins.list[Any]([image_id])
                if used_before is not None:
                    where += " AND last_used < ?"
                    params.append(used_before)
                if not db.execute(f"DELETE FROM images WHERE {where}", params).rowcount:
                    return False
                db.execute("DELETE FROM trees WHERE id = ?", (image_id,))
                db.execute("DELETE FROM remotes WHERE image_id = ?", (image_id,))
                return True

            if not self.index.write(delete):
                return False
            self._remove_files(image_id)
            image_lock.unlink()
        return True

    def _remove_files(self, image_id: str) -> None:
        try:
            remove_tree(self.datadir.tree(image_id))
            remove_tree(self.datadir.blob(image_id))
        except OSError as err:
            raise StoreError(
                f"image {image_id} removed but some of its files remain: {err}",
                hint="run rkt image gc",
            ) from err

    def gc(self, grace_period: timedelta, keep: Collection[str] = ()) -> builtins.list[str]:
        """Remove images unused for ``grace_period`` (except those in ``keep``, e.g. the
        images pods use), then orphan blobs, trees, temporary files and lock files; returns
        the IDs of the images removed."""
        cutoff = time.time_ns() - int(grace_period.total_seconds() * 1e9)
        removed = [
            r.id
            for r in self.list()
            if r.id not in keep and to_ns(r.last_used) < cutoff and self._remove_if(r.id, cutoff)
        ]
        from rkt.store.consistency import collect_orphans, drop_rows_without_blobs

        collect_orphans(self, cutoff / 1e9)
        return removed + drop_rows_without_blobs(self, keep)

    def verify(self) -> builtins.list[str]:
        """Problems found in the store; empty when blobs, trees and rows agree."""
        from rkt.store.consistency import verify

        return verify(self)

    def repair(self, keep: Collection[str] = ()) -> builtins.list[str]:
        """Verify and repair: damaged images removed, modified trees rendered again, except
        those of images in ``keep`` (pods use them); each problem with what was done."""
        from rkt.store.consistency import repair

        return repair(self, keep)

    # -- trees and outputs --------------------------------------------------------------
    def render(self, image_id: str) -> Path:
        """The rendered tree ``cas/tree/<id>/rootfs`` of an image with its dependencies."""
        image_id = self.get(image_id).id
        if self.is_rendered(image_id):  # the common case, without loading the renderer
            return self.datadir.tree(image_id) / "rootfs"
        from rkt.store.render import render_tree

        return render_tree(self, image_id)

    def is_rendered(self, image_id: str) -> bool:
        """Whether the tree of the full ID ``image_id`` is recorded and in place."""
        rows = self.index.read("SELECT 1 FROM trees WHERE id = ?", (image_id,))
        return bool(rows) and (self.datadir.tree(image_id) / "rootfs").is_dir()

    def extract(self, image_id: str, target: Path, *, rootfs_only: bool, overwrite: bool) -> None:
        from rkt.store.render import extract_image

        extract_image(self, self.get(image_id).id, target, rootfs_only, overwrite)

    def render_to(self, image_id: str, target: Path, *, rootfs_only: bool, overwrite: bool) -> None:
        from rkt.store.render import render_image

        render_image(self, self.get(image_id).id, target, rootfs_only, overwrite)

    def export(self, image_id: str, out: Path, *, overwrite: bool) -> None:
        """Write the stored (uncompressed) ACI to ``out``, atomically."""
        from appc.aci.output import atomic_output
        from appc.errors import ArchiveError

        if not overwrite and os.path.lexists(out):
            raise StoreError(f"output ACI file exists: {out}", hint="try --overwrite")
        with self.open_blob(image_id) as blob:
            try:
                with atomic_output(os.fspath(out), overwrite) as fd:
                    _copy_fd(blob, fd)
            except ArchiveError as err:
                raise StoreError(f"cannot export to {out}: {err.message}") from err


def _copy_fd(source: IO[bytes], fd: int) -> None:
    size = os.fstat(source.fileno()).st_size
    offset = 0
    while offset < size:
        sent = os.sendfile(fd, source.fileno(), offset, size - offset)
        if not sent:
            break
        offset += sent
