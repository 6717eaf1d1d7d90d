"""Rendering images into directories: the tree store (ace.md "Filesystem Setup") and the
``rkt image extract``/``render`` outputs.

The dependency list is built as the reference renderer (appc pkg/acirenderer) builds it: the
image first, each image's dependencies inserted right after it, so that for ``A -> [B, C]``,
``C -> [D]`` the priority is A, C, D, B. Layers are extracted in the reverse order (B, D, C, A)
into one :class:`~rkt.store.extract.Extractor`, each overwriting the earlier ones: a later path
replaces an earlier one, a symlink of an earlier layer is replaced and never followed.

``pathWhitelist``: a non-directory member is kept only when it is listed in the whitelist of
its image and of every image above it on the path from the rendered image (ace.md: "the file
can be filtered by any of the pathWhitelist of the image itself and the images depending on
the image"); directories are always kept, as in the reference. A whitelist entry is only ever
compared with member names, so it cannot name anything outside the tree; one with ``..`` in it
matches nothing.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from msgspec.structs import replace

from appc.aci.member import Member, MemberType
from rkt.errors import ImageNotFound, StoreError
from rkt.store.blobs import create_temp, sync_dir
from rkt.store.extract import Extractor
from rkt.store.lock import locked
from rkt.store.tree import remove_tree, tree_hash, tree_members

if TYPE_CHECKING:
    from appc.schema.image import ImageManifest
    from rkt.store.blobs import StagedBlob
    from rkt.store.store import Store

ROOTFS_PREFIX = "rootfs/"
MAX_LAYERS = 1024
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC

Mapper = Callable[[Member], Member | None]


class Layer(msgspec.Struct, frozen=True):
    image_id: str
    manifest: ImageManifest
    whitelists: tuple[frozenset[str], ...]  # its own (if any) and its ancestors'
    #: the images above it, from the rendered one down: a dependency among them is a cycle
    ancestors: tuple[str, ...] = ()


#: Images staged by a fetch and not yet committed, by ID (rkt.store.batch): rendering sees
#: them as if they were in the store, so that nothing is committed before the tree renders.
Pending = Mapping[str, "StagedBlob"]


def whitelist(paths: Iterable[str]) -> frozenset[str]:
    """Whitelist entries as member names under rootfs; entries with '..' can match nothing."""
    result = set()
    for path in paths:
        parts = [p for p in path.split("/") if p and p != "."]
        if parts and ".." not in parts:
            result.add("/".join(parts))
    return frozenset(result)


def manifest_of(store: Store, image_id: str, pending: Pending) -> ImageManifest:
    staged = pending.get(image_id)
    return staged.manifest if staged is not None else store.manifest(image_id)[1]


def blob_of(store: Store, image_id: str, pending: Pending) -> Path:
    staged = pending.get(image_id)
    return staged.path if staged is not None else store.datadir.blob(image_id)


def dependency_layers(store: Store, image_id: str, pending: Pending | None = None) -> list[Layer]:
    """The layers of ``image_id`` in extraction order (lowest priority first)."""
    pending = pending or {}
    order = [Layer(image_id, manifest_of(store, image_id, pending), ())]
    index = 0
    while index < len(order):
        layer = order[index]
        own = layer.manifest.path_whitelist
        whitelists = layer.whitelists + ((whitelist(own),) if own else ())
        path = (*layer.ancestors, layer.image_id)
        for dep in layer.manifest.dependencies:
            dep_id = _resolve(store, pending, layer, dep.image_name, dep.image_id, dep.labels)
            if dep_id in path:
                names = [manifest_of(store, i, pending).name for i in path[path.index(dep_id) :]]
                cycle = " -> ".join([*names, names[0]])
                raise StoreError(
                    f"image {order[0].manifest.name} ({image_id}) has a dependency cycle: {cycle}",
                    hint="an image cannot depend on itself",
                )
            dep_manifest = manifest_of(store, dep_id, pending)
            order.insert(index + 1, Layer(dep_id, dep_manifest, whitelists, path))
            if len(order) > MAX_LAYERS:
                raise StoreError(
                    f"image {image_id} has more than {MAX_LAYERS} layers of dependencies",
                    hint="flatten its dependencies",
                )
        order[index] = Layer(layer.image_id, layer.manifest, whitelists, layer.ancestors)
        index += 1
    order.reverse()
    return order


def _resolve(
    store: Store,
    pending: Pending,
    parent: Layer,
    name: str,
    dep_id: str | None,
    labels: Iterable[object],
) -> str:
    wanted = {label.name: label.value for label in labels}  # type: ignore[attr-defined]
    found: str | None = None
    try:
        if dep_id:
            found = dep_id if dep_id in pending else store.get(dep_id).id
        else:
            from rkt.store.batch import find_pending

            found = find_pending(pending, name, wanted)
            if found is None:
                record = store.find(name, wanted)
                found = record.id if record is not None else None
    except ImageNotFound:
        found = None
    if found is None:
        what = f"{name} ({dep_id})" if dep_id else name
        raise ImageNotFound(
            f"dependency {what} of image {parent.manifest.name} ({parent.image_id}) is not in "
            "the store",
            hint="fetch it first",
        )
    return found


def rootfs_mapper(whitelists: tuple[frozenset[str], ...] = ()) -> Mapper:
    """Members under rootfs/ relative to the rootfs, filtered by the whitelists."""

    def mapped(member: Member) -> Member | None:
        name = member.name
        if name == "rootfs":
            return replace(member, name="")
        if not name.startswith(ROOTFS_PREFIX):
            return None  # the manifest
        rel = name[len(ROOTFS_PREFIX) :]
        if not member.is_dir and any(rel not in wl for wl in whitelists):
            return None
        if member.type is MemberType.HARDLINK:
            return replace(member, name=rel, linkname=member.linkname[len(ROOTFS_PREFIX) :])
        return replace(member, name=rel)

    return mapped


def whole_mapper(member: Member) -> Member | None:
    return replace(member, name="") if member.name == "." else member


def extract_layer(blob: Path, image_id: str, extractor: Extractor, mapper: Mapper) -> None:
    """Extract one stored image; its bytes are hashed on the way and must match its ID."""
    from appc.aci.reader import open_archive
    from appc.errors import AppcError

    extractor.new_layer()
    try:
        with open_archive(blob) as reader:
            for member in reader:
                target = mapper(member)
                if target is not None:
                    extractor.add(target, reader.copy_data)
            actual = reader.image_id
    except AppcError as err:
        raise StoreError(f"cannot read image {image_id} from {blob}: {err}") from err
    if actual != image_id:
        raise StoreError(
            f"the stored blob {blob} is corrupted: its hash is {actual}", hint="run rkt image gc"
        )


def prepare_target(target: Path, overwrite: bool) -> int:
    """Create the output directory (replacing it with ``overwrite``) and return its fd."""
    absolute = Path(os.path.abspath(target))
    if os.path.lexists(absolute):
        if not overwrite:
            raise StoreError(f"output directory exists: {target}", hint="try --overwrite")
        if os.path.realpath(absolute) == "/":
            raise StoreError(f"{target}: this would delete your root filesystem; refusing")
        try:
            remove_tree(absolute)
        except OSError as err:
            raise StoreError(f"cannot remove {target}: {err.strerror or err}") from err
    try:
        absolute.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.mkdir(absolute, 0o755)
        return os.open(absolute, _O_DIR)
    except OSError as err:
        raise StoreError(f"cannot create output directory {target}: {err.strerror}") from err


def copy_tree(source: Path, extractor: Extractor) -> None:
    """Copy a rendered tree into the extractor's root, links as links, metadata kept."""
    extractor.new_layer()
    src = os.open(source, _O_DIR)
    try:
        st = os.fstat(src)
        extractor.add(
            Member(
                "",
                MemberType.DIRECTORY,
                mode=st.st_mode & 0o7777,
                uid=st.st_uid,
                gid=st.st_gid,
                mtime=st.st_mtime_ns / 1e9,
            ),
            _nothing,
        )
        for member, copy in tree_members(src):
            extractor.add(member, copy)
    finally:
        os.close(src)
    extractor.finish()


def _nothing(write: Callable[[memoryview], object]) -> None:
    return None


class StagedTree:
    """A tree being rendered in ``tmp/``: extract with :attr:`extractor`, then :meth:`commit`.

    ``image_id`` may be unknown while the tree is filled (an import learns it at the end);
    ``where`` then names it in the extractor's messages (the image being imported)."""

    def __init__(self, store: Store, image_id: str = "", *, where: str = "") -> None:
        self.store = store
        self.image_id = image_id
        #: the images whose layers it holds, lowest first (recorded with the tree)
        self.layers: list[str] = []
        self.fd, self.path = create_temp(store.datadir.tmp, "tree", directory=True)
        try:
            os.mkdir("rootfs", 0o755, dir_fd=self.fd)
            self.root_fd = os.open("rootfs", _O_DIR, dir_fd=self.fd)
        except BaseException:
            self.discard()
            raise
        rootfs = store.datadir.tree(image_id) if image_id else self.path
        self.extractor = Extractor(self.root_fd, str(rootfs / "rootfs"))
        if where:
            self.extractor.where = where

    def commit(self, layers: list[str]) -> Path:
        """Hash, sync and rename the tree into place, then record it; the caller holds the
        tree's lock. Returns the rootfs."""
        datadir = self.store.datadir
        tree = datadir.tree(self.image_id)
        try:
            self.extractor.finish()
            digest, size = tree_hash(self.path / "rootfs", self.extractor.digests)
            (self.path / "hash").write_text(digest)
            # Everything in the tree must be on disk before the row says it is rendered (rkt
            # uses syncfs here; the stdlib has only sync).
            os.sync()
            remove_tree(tree)  # a tree without a row: left by a crash after the rename
            os.rename(self.path, tree)
            sync_dir(datadir.trees)
        except OSError as err:
            raise StoreError(f"cannot render image {self.image_id} in {self.path}: {err}") from err
        deps = json.dumps(layers)
        now = time.time_ns()
        self.store.index.write(
            lambda db: db.execute(
                "INSERT OR REPLACE INTO trees VALUES (?, ?, ?, ?, ?)",
                (self.image_id, digest, size, now, deps),
            )
        )
        return tree / "rootfs"

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            remove_tree(self.path)
        for fd in (getattr(self, "root_fd", -1), self.fd):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)


def render_tree(store: Store, image_id: str) -> Path:
    """Render once: under the tree's lock, into a temporary directory that is hashed, synced,
    renamed into place, and only then recorded in the index."""
    datadir = store.datadir
    rootfs = datadir.tree(image_id) / "rootfs"
    if store.is_rendered(image_id):
        return rootfs
    with locked(datadir.locks / f"tree-{image_id}"):
        if store.is_rendered(image_id):
            return rootfs
        staged = fill_tree(store, image_id)
        try:
            return staged.commit(staged.layers)
        finally:
            staged.discard()


def fill_tree(store: Store, image_id: str, pending: Pending | None = None) -> StagedTree:
    """The tree of ``image_id`` with its dependencies, rendered into a new staged tree (not
    committed); images in ``pending`` are read from their staged blobs."""
    pending = pending or {}
    layers = dependency_layers(store, image_id, pending)
    staged = StagedTree(store, image_id)
    try:
        for layer in layers:
            mapper = rootfs_mapper(layer.whitelists)
            blob = blob_of(store, layer.image_id, pending)
            extract_layer(blob, layer.image_id, staged.extractor, mapper)
        staged.layers = [layer.image_id for layer in layers]
        return staged
    except BaseException:
        staged.discard()
        raise


def render_staged(store: Store, blob: Path, image_id: str, where: str) -> StagedTree:
    """Render a self-contained image from its staged blob, before anything is committed
    (for archives whose manifest is not their first member, which the import's single pass
    could not render on the way)."""
    staged = StagedTree(store, where=where)
    try:
        extract_layer(blob, image_id, staged.extractor, rootfs_mapper())
        return staged
    except BaseException:
        staged.discard()
        raise


def commit_prerendered(store: Store, staged: StagedTree) -> None:
    """Keep a tree rendered before its image was committed (see :mod:`rkt.store.blobs` and
    :mod:`rkt.store.batch`), unless another process rendered it first."""
    with locked(store.datadir.locks / f"tree-{staged.image_id}"):
        if not store.is_rendered(staged.image_id):
            staged.commit(staged.layers or [staged.image_id])


def extract_image(
    store: Store, image_id: str, target: Path, rootfs_only: bool, overwrite: bool
) -> None:
    """``rkt image extract``: one image, no dependencies, into a new directory."""
    fd = prepare_target(target, overwrite)
    try:
        extractor = Extractor(fd, str(target))
        mapper = rootfs_mapper() if rootfs_only else whole_mapper
        extract_layer(store.datadir.blob(image_id), image_id, extractor, mapper)
        extractor.finish()
    finally:
        os.close(fd)


def render_image(
    store: Store, image_id: str, target: Path, rootfs_only: bool, overwrite: bool
) -> None:
    """``rkt image render``: a copy of the rendered tree, with the manifest unless
    ``rootfs_only``."""
    rootfs = render_tree(store, image_id)
    fd = prepare_target(target, overwrite)
    try:
        if rootfs_only:
            copy_tree(rootfs, Extractor(fd, str(target)))
            return
        raw, _manifest = store.manifest(image_id)
        out = os.open(
            "manifest", os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644, dir_fd=fd
        )
        try:
            os.write(out, raw)
        finally:
            os.close(out)
        os.mkdir("rootfs", 0o755, dir_fd=fd)
        root = os.open("rootfs", _O_DIR, dir_fd=fd)
        try:
            copy_tree(rootfs, Extractor(root, str(target / "rootfs")))
        finally:
            os.close(root)
    except OSError as err:
        raise StoreError(f"cannot write {target}: {err.strerror or err}") from err
    finally:
        os.close(fd)
