"""A pull: an OCI source's image into the store as one squashed, rendered ACI.

The order is what makes a failed pull leave nothing behind (docs/security.md 4):

1. the store answers when the pull policy lets it (``new``: the reference is remembered;
   ``update``: the source's digest, a ``HEAD`` for a registry, is what the store remembers);
2. the manifest and config are fetched and verified (:meth:`Source.resolve`);
3. the layers are fetched on up to :data:`WORKERS` threads into nameless files in the store's
   ``tmp/``, each verified against its digest, while the main thread applies them in order
   into one staged tree as each arrives (:mod:`~rkt.fetch.oci.layer`): the tree the store keeps,
   written once;
4. the ACI is written from that tree (:mod:`~rkt.fetch.oci.packing`), synced, and the blob,
   its row, the tree and the remembered reference are committed together
   (:meth:`rkt.store.Store.commit`).

Until step 4 everything lives in ``tmp/`` under names the store cleans if the process is
killed; a failure anywhere discards it all.
"""

from __future__ import annotations

import os
import stat
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, TextIO

from msgspec.structs import replace

from rkt.errors import FetchError, ImageNotFound, StoreError

if TYPE_CHECKING:
    from concurrent.futures import Future, ThreadPoolExecutor

    from rkt.config import Config
    from rkt.fetch.http import Transport
    from rkt.fetch.oci.source import LayerRef, Progress, Resolved, Source
    from rkt.store import Remote, Store
    from rkt.store.blobs import StagedBlob
    from rkt.store.render import StagedTree

#: Layers transferred at once: enough to hide a registry's per-request latency, few enough
#: not to starve the thread that applies them on a small machine.
WORKERS = 4
_MAX_ACCOUNT_DB = 1024 * 1024
_O_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
SCHEMES = ("docker://", "oci:", "oci-archive:", "docker-archive:")


def is_oci_argument(text: str) -> bool:
    return text.startswith(SCHEMES)


class OciFetcher:
    """Fetches ``docker://``, ``oci:``, ``oci-archive:`` and ``docker-archive:`` images.

    ``transport`` makes the HTTP transport when a registry is first asked (so an image
    the store has costs no transport); ``skip_verification`` says (and warns) whether
    ``--insecure-options=image`` is on.
    """

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        transport: Callable[[], Transport],
        skip_verification: Callable[[], bool],
        log: Callable[[str], None],
        debug: Callable[[str], None],
        stderr: TextIO | None = None,
    ) -> None:
        self._config = config
        self._store = store
        self._transport = transport
        self._skip_verification = skip_verification
        self._log = log
        self._debug = debug
        self._stderr = stderr

    # --- the policy -----------------------------------------------------------------------

    def fetch(self, text: str, policy: str) -> str:
        """The image ID of ``text`` in the store, fetched as ``policy`` (never/new/update)
        requires."""
        url, pinned, make = self._reference(text)
        remote = self._store.live_remote(url)
        if remote is not None and policy != "update":
            self._debug(f"using image from local store for {url}")
            return remote.image_id
        if policy == "never":
            raise ImageNotFound(
                f"image {url} is not in the store", hint="fetch it first, or use --pull-policy=new"
            )
        if remote is not None and pinned:
            return remote.image_id  # a digest names content, which cannot have changed
        if not pinned and not self._skip_verification():
            raise FetchError(
                f"{url}: Docker and OCI images carry no signature that rkt can verify",
                hint="use --insecure-options=image to fetch it anyway, or name it by digest "
                "(docker://NAME@sha256:...)",
            )
        source = make()
        try:
            if remote is not None:
                source.prefer(remote.sig_url)
                current = source.current()
                if current is not None and current == remote.etag:
                    return self._unchanged(remote, current)
            resolved = source.resolve()
            if remote is not None and resolved.digest == remote.etag:
                return self._unchanged(remote, resolved.digest)
            if pinned:
                self._log(f"{url}: verified by its content digest; no signature needed")
            return self._convert(source, resolved)
        finally:
            source.close()

    def _unchanged(self, remote: Remote, digest: str) -> str:
        from rkt.fetch.cache import now

        self._debug(f"{remote.aci_url} is unchanged ({digest}); using the stored image")
        self._store.put_remote(replace(remote, download_time=now()))
        return remote.image_id

    def _reference(self, text: str) -> tuple[str, bool, Callable[[], Source]]:
        """The store key of ``text``, whether it is a digest reference, and how to open it
        (only when the store cannot answer)."""
        if text.startswith("docker://"):
            from rkt.fetch.oci.reference import parse_docker

            ref = parse_docker(text[len("docker://") :])

            def registry() -> Source:
                from rkt.config import load_docker_auth
                from rkt.fetch.oci.credentials import credentials_for
                from rkt.fetch.oci.registry import Registry
                from rkt.fetch.oci.source import RegistrySource

                creds = credentials_for(ref.host, load_docker_auth(self._config.dirs), os.environ)
                return RegistrySource(
                    Registry(
                        ref,
                        self._transport(),
                        insecure=self._config.insecure,
                        credentials=creds,
                        log=self._debug,
                    )
                )

            return ref.url(), bool(ref.digest), registry
        from rkt.fetch.oci.reference import parse_local

        local = parse_local(text)

        def local_source() -> Source:
            from rkt.fetch.oci.local import DockerArchive, LayoutSource

            if local.transport == "docker-archive":
                return DockerArchive(local)
            return LayoutSource(local)

        return local.url(), False, local_source

    # --- the conversion -------------------------------------------------------------------

    def _convert(self, source: Source, resolved: Resolved) -> str:
        from appc.aci.member import Member, MemberType
        from rkt.fetch.cache import now
        from rkt.fetch.oci.conversion import image_manifest
        from rkt.fetch.oci.document import appc_os_arch
        from rkt.fetch.oci.layer import apply_layer
        from rkt.store import Remote
        from rkt.store.render import StagedTree

        os_arch = appc_os_arch(resolved.config, source.url)
        if not self._store.renders:
            # Layers are applied to a tree of the store's (cas/tree, root's), as root does.
            raise FetchError(
                f"{source.url}: Docker and OCI images are converted as they are fetched, which "
                "only root can do",
                hint="fetch it as root; members of the data dir's group fetch ACIs",
            )
        layers = resolved.layers
        self._debug(f"{source.url}: {len(layers)} layers, manifest {resolved.manifest_digest}")
        tree = StagedTree(self._store, where=source.url)
        staged: StagedBlob | None = None
        try:
            # The root as Docker makes it, unless a layer says otherwise ("./"): a fixed mtime
            # keeps the archive, and so the image ID, the same from one pull to the next.
            tree.extractor.add(Member("", MemberType.DIRECTORY, mode=0o755), _no_data)
            with _Layers(source, layers, self._store.datadir.tmp, self._progress(layers)) as files:
                for n, layer in enumerate(layers):
                    what = f"{source.url} layer {n + 1}/{len(layers)} ({layer.descriptor.digest})"
                    with files.take(n) as file:
                        apply_layer(tree.extractor, file, what, layer.diff_id)
            tree.extractor.finish()
            annotations = [
                *source.annotations(),
                ("appc.io/docker/imageid", resolved.config_digest),
                ("appc.io/docker/manifesthash", resolved.manifest_digest),
            ]
            manifest = image_manifest(
                name=source.name,
                version=source.version,
                os_arch=os_arch,
                config=resolved.config,
                annotations=annotations,
                read=_image_file_reader(tree.path / "rootfs"),
                warn=lambda message: self._log(f"warning: {source.url}: {message}"),
            )
            staged = _pack(self._store, tree, manifest)
            # A docker remote has no signature; its sig_url keeps where the registry answered.
            remote = Remote(
                source.url, source.endpoint(), resolved.digest, 0, now(), staged.image_id
            )
            return self._store.commit(staged, remote).id
        finally:
            if staged is not None:
                staged.discard()  # the tree with it
            else:
                tree.discard()

    def _progress(self, layers: tuple[LayerRef, ...]) -> Progress | None:
        from rkt.fetch.progress import progress_for

        total = sum(layer.descriptor.size for layer in layers)
        label = f"{len(layers)} layer{'s' if len(layers) != 1 else ''}"
        bar = progress_for(self._stderr, label, total)
        if bar is None:
            return None
        lock = threading.Lock()

        def advance(n: int) -> None:
            with lock:
                bar.advance(n)

        return advance


def _no_data(write: Callable[[memoryview], object]) -> None:
    return None


class _Layers:
    """The layers' files, opened in order on worker threads (for a registry) or one by one
    as they are taken (local files, already on disk). Leaving the ``with`` stops the
    transfers still running and closes every file not taken."""

    def __init__(
        self,
        source: Source,
        layers: tuple[LayerRef, ...],
        tmp: Path,
        progress: Progress | None,
    ) -> None:
        self._source = source
        self._layers = layers
        self._tmp = tmp
        self._progress = progress
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._futures: list[Future[IO[bytes]]] = []
        if source.concurrent and layers:
            from concurrent.futures import ThreadPoolExecutor  # only a pull needs it

            self._pool = ThreadPoolExecutor(
                max_workers=min(WORKERS, len(layers)), thread_name_prefix="rkt-layer"
            )
            self._futures = [
                self._pool.submit(source.open_layer, layer, tmp, self._stop, progress)
                for layer in layers
            ]

    def take(self, n: int) -> IO[bytes]:
        if self._pool is None:
            return self._source.open_layer(self._layers[n], self._tmp, self._stop, self._progress)
        return self._futures[n].result()

    def __enter__(self) -> _Layers:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._pool is None:
            return
        for future in self._futures:
            future.cancel()
        self._pool.shutdown(wait=True)
        for future in self._futures:
            if future.done() and not future.cancelled() and future.exception() is None:
                future.result().close()  # closing twice is harmless


def _pack(store: Store, tree: StagedTree, manifest: bytes) -> StagedBlob:
    """The ACI of the rendered tree, staged as an import is (synced, in ``tmp/``)."""
    from appc.errors import ArchiveError
    from appc.schema.image import ImageManifest
    from rkt.fetch.oci.packing import write_aci
    from rkt.store.blobs import StagedBlob, create_temp

    fd, path = create_temp(store.datadir.tmp, "import")
    try:
        image_id = write_aci(tree.path / "rootfs", manifest, fd, str(path))
        os.fsync(fd)
        size = os.fstat(fd).st_size
    except BaseException as err:
        os.unlink(path)
        os.close(fd)
        if isinstance(err, ArchiveError | OSError):
            raise StoreError(f"cannot write the converted image to {path}: {err}") from err
        raise
    parsed = ImageManifest.from_json(manifest)
    return StagedBlob(fd, path, image_id, size, manifest, parsed, tree)


def _image_file_reader(rootfs: Path) -> Callable[[str], bytes | None]:
    """Small regular files of the rendered tree by absolute path, resolved inside it without
    following any link (docs/security.md 3: the image's account database is parsed, never NSS)."""

    def read(path: str) -> bytes | None:
        parts = [p for p in path.split("/") if p and p != "."]
        if not parts or ".." in parts:
            return None
        fd = -1
        try:
            fd = os.open(rootfs, _O_DIR)
            for part in parts[:-1]:
                child = os.open(part, _O_DIR, dir_fd=fd)
                os.close(fd)
                fd = child
            flags = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
            file_fd = os.open(parts[-1], flags, dir_fd=fd)
            with open(file_fd, "rb", buffering=0) as file:
                if not stat.S_ISREG(os.fstat(file_fd).st_mode):
                    return None
                data = file.read(_MAX_ACCOUNT_DB + 1)
            return data if len(data) <= _MAX_ACCOUNT_DB else None
        except OSError:
            return None
        finally:
            if fd >= 0:
                os.close(fd)

    return read
