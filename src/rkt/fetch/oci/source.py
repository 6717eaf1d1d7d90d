"""Where an OCI image comes from, behind one interface (:class:`Source`) that the pull uses:

- :class:`RegistrySource` — ``docker://``, a repository of a registry
  (:mod:`~rkt.fetch.oci.registry`);
- :class:`~rkt.fetch.oci.local.LayoutSource` and :class:`~rkt.fetch.oci.local.DockerArchive`
  — ``oci:``, ``oci-archive:`` and ``docker-archive:`` files.

A source names the image (its ACI name and version and the store key of the reference),
tells cheaply what the reference points at now (:meth:`Source.current`: a ``HEAD`` of the
manifest, or a read of ``index.json``), resolves it to a verified manifest and config
(:meth:`Source.resolve`, choosing linux on this machine's architecture from an index) and
opens each layer (:meth:`Source.open_layer`): verified against its digest before it is
returned, or, for ``docker save`` layers that only the config's ``diff_ids`` vouch for,
verified while it is applied.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

import msgspec

from rkt.errors import FetchError
from rkt.fetch.oci.document import (
    MAX_CONFIG,
    Descriptor,
    ImageConfig,
    Index,
    Manifest,
    parse_config,
    parse_manifest,
    select_platform,
)

if TYPE_CHECKING:
    from rkt.fetch.oci.registry import Registry

Progress = Callable[[int], object]


class LayerRef(msgspec.Struct, frozen=True):
    """One layer to apply: its descriptor and, when its bytes cannot be checked before use,
    the ``diff_id`` its uncompressed tar must hash to."""

    descriptor: Descriptor
    diff_id: str = ""


class Resolved(msgspec.Struct, frozen=True):
    """A reference resolved: ``digest`` is what the reference points at (what the store
    remembers to notice a change), ``manifest_digest`` the platform's manifest."""

    digest: str
    manifest_digest: str
    config_digest: str
    config: ImageConfig
    layers: tuple[LayerRef, ...]


class Source(Protocol):
    #: the store's key for the reference (``docker://host/repo:tag``, ``oci:/dir:ref``)
    url: str
    #: the ACI name and ``version`` label
    name: str
    version: str
    #: a digest reference: the content is named by its hash and needs no signature
    pinned: bool
    #: layers are worth opening on several threads at once (network transfers)
    concurrent: bool

    def annotations(self) -> list[tuple[str, str]]: ...

    #: where the image came from, remembered with the reference (a registry's base URL)
    def endpoint(self) -> str: ...

    def prefer(self, endpoint: str) -> None: ...

    def current(self) -> str | None: ...

    def resolve(self) -> Resolved: ...

    def open_layer(
        self, layer: LayerRef, tmp: Path, stop: threading.Event, progress: Progress | None
    ) -> IO[bytes]: ...

    def close(self) -> None: ...


def resolve_manifest(
    read: Callable[[str, str], tuple[bytes, str, str]], reference: str, what: str
) -> tuple[str, str, Manifest]:
    """Follow ``reference`` through an index to this platform's manifest; ``read(ref,
    what)`` returns a document's bytes, content type and verified digest. Returns the top
    digest, the manifest's digest and the manifest."""
    data, content_type, top = read(reference, what)
    document = parse_manifest(data, content_type, what)
    digest = top
    if isinstance(document, Index):
        entry = select_platform(document, what)
        what = f"{what} (linux manifest {entry.digest})"
        data, content_type, digest = read(entry.digest, what)
        if len(data) != entry.size:
            raise FetchError(f"{what}: {len(data)} bytes; the index gives {entry.size}")
        document = parse_manifest(data, content_type, what)
        if isinstance(document, Index):
            raise FetchError(f"{what}: an index inside an index is not supported")
    return top, digest, document


def check_layers(manifest: Manifest, config: ImageConfig, what: str) -> tuple[LayerRef, ...]:
    diff_ids = config.rootfs.diff_ids
    if diff_ids and len(diff_ids) != len(manifest.layers):
        raise FetchError(
            f"{what}: the config lists {len(diff_ids)} layers, the manifest {len(manifest.layers)}"
        )
    return tuple(LayerRef(layer) for layer in manifest.layers)


def anonymous_file(tmp: Path) -> IO[bytes]:
    """A file with no name in the store's ``tmp/``: nothing is left if we are killed."""
    try:
        fd = os.open(tmp, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    except OSError as err:
        import errno

        if err.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise FetchError(f"cannot create a temporary file in {tmp}: {err.strerror}") from err
        from rkt.store.blobs import create_temp

        fd, path = create_temp(tmp, "layer")
        os.unlink(path)
    return open(fd, "w+b", buffering=0)


class RegistrySource:
    """An image in a registry (``docker://``)."""

    concurrent = True

    def __init__(self, registry: Registry) -> None:
        ref = self.ref = registry.ref
        self._registry = registry
        self.url = ref.url()
        self.name = ref.image_name()
        self.version = ref.tag
        self.pinned = bool(ref.digest)

    def annotations(self) -> list[tuple[str, str]]:
        return [
            ("appc.io/docker/registryurl", self.ref.host),
            ("appc.io/docker/repository", self.ref.repository),
            ("appc.io/docker/tag", self.ref.tag),
        ]

    def endpoint(self) -> str:
        return self._registry.endpoint

    def prefer(self, endpoint: str) -> None:
        self._registry.prefer(endpoint)

    def current(self) -> str | None:
        return self._registry.manifest_digest(self.ref.reference)

    def _read(self, reference: str, what: str) -> tuple[bytes, str, str]:
        manifest = self._registry.manifest(reference)
        return manifest.data, manifest.content_type, manifest.digest

    def resolve(self) -> Resolved:
        what = f"docker://{self.ref.full()}"
        top, digest, manifest = resolve_manifest(self._read, self.ref.reference, what)
        data = self._registry.blob_bytes(manifest.config, MAX_CONFIG)
        config = parse_config(data, f"{what} config {manifest.config.digest}")
        layers = check_layers(manifest, config, what)
        return Resolved(top, digest, manifest.config.digest, config, layers)

    def open_layer(
        self, layer: LayerRef, tmp: Path, stop: threading.Event, progress: Progress | None
    ) -> IO[bytes]:
        from rkt.fetch.oci.registry import write_fd

        file = anonymous_file(tmp)
        try:
            write, reset = write_fd(file.fileno())
            self._registry.blob_to(
                layer.descriptor, write, reset=reset, stop=stop, progress=progress
            )
            file.seek(0)
            return file
        except OSError as err:
            file.close()
            raise FetchError(f"cannot write a layer to {tmp}: {err.strerror or err}") from err
        except BaseException:
            file.close()
            raise

    def close(self) -> None:
        pass
