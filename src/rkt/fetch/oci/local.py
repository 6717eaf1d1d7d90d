"""Images in files, in skopeo's and podman's transports: an OCI image layout directory
(``oci:DIR[:REF]``), a tar of one (``oci-archive:FILE[:REF]``), and ``docker save`` output
(``docker-archive:FILE[:NAME:TAG]``).

OCI layouts (image-spec image-layout.md): ``index.json`` lists the images; ``REF`` picks the
one whose ``org.opencontainers.image.ref.name`` annotation equals it, and without ``REF`` the
layout must hold one image. Blobs are read from ``blobs/<algorithm>/<hex>`` with the digest
checked first, so a name never comes from anything but a verified digest.

Docker archives: ``manifest.json`` lists each image's config file, ``RepoTags`` and layer
files; the config is checked against the digest its file name carries, and each layer
against the config's ``diff_ids`` while it is applied (its bytes have no digest of their
own).

Names: a ``REF`` with a ``/`` or ``:`` is an image name (``example.com/app:1.0``; without a
registry host it gets ``localhost/``, as podman names local images); otherwise ``REF`` is the
version and the name is ``localhost/`` and the file's base name. A docker archive's image is
named by its ``RepoTags`` entry, as ``docker load`` would name it.
"""

from __future__ import annotations

import hashlib
import os
import re
import stat
import threading
from pathlib import Path
from typing import IO, Protocol

import msgspec

from rkt.errors import FetchError
from rkt.fetch.oci.digest import DigestMismatch, check_digest, verify_bytes
from rkt.fetch.oci.document import (
    MAX_CONFIG,
    MAX_MANIFEST,
    Descriptor,
    Index,
    decode,
    parse_config,
    parse_manifest,
)
from rkt.fetch.oci.reference import (
    DockerReference,
    LocalReference,
    parse_docker,
    sanitize_identifier,
)
from rkt.fetch.oci.source import LayerRef, Progress, Resolved, check_layers, resolve_manifest
from rkt.fetch.oci.tarindex import TarIndex

REF_NAME = "org.opencontainers.image.ref.name"
_CHUNK = 1024 * 1024
_LOCAL_HOST = "localhost"


class _Files(Protocol):
    where: str

    def exists(self, name: str) -> bool: ...
    def size(self, name: str) -> int: ...
    def read(self, name: str, limit: int) -> bytes: ...
    def open(self, name: str) -> IO[bytes]: ...
    def close(self) -> None: ...


class _Directory:
    """Files of a layout directory, opened without following a final symlink into a FIFO or
    device (regular files only)."""

    def __init__(self, path: str) -> None:
        self.where = path
        try:
            self._fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise FetchError(f"{path}: cannot open the image layout: {err.strerror}") from err

    def _open(self, name: str) -> int:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=self._fd)
        except OSError as err:
            raise FetchError(f"{self.where}/{name}: cannot open: {err.strerror}") from err
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise FetchError(f"{self.where}/{name}: not a regular file")
        return fd

    def exists(self, name: str) -> bool:
        try:
            return stat.S_ISREG(os.stat(name, dir_fd=self._fd).st_mode)
        except OSError:
            return False

    def size(self, name: str) -> int:
        fd = self._open(name)
        try:
            return os.fstat(fd).st_size
        finally:
            os.close(fd)

    def read(self, name: str, limit: int) -> bytes:
        with self.open(name) as file:
            data = file.read(limit + 1)
        if len(data) > limit:
            raise FetchError(f"{self.where}/{name}: larger than {limit} bytes")
        return data

    def open(self, name: str) -> IO[bytes]:
        return open(self._open(name), "rb", buffering=0)

    def close(self) -> None:
        os.close(self._fd)


class _Archive:
    def __init__(self, path: str) -> None:
        self.where = path
        self._index = TarIndex(path)

    def exists(self, name: str) -> bool:
        return self._index.has(name)

    def size(self, name: str) -> int:
        return self._index.size(name)

    def read(self, name: str, limit: int) -> bytes:
        return self._index.read(name, limit)

    def open(self, name: str) -> IO[bytes]:
        return self._index.open(name)  # type: ignore[return-value]

    def close(self) -> None:
        self._index.close()


def _blob_name(digest: str) -> str:
    algorithm, _colon, hex_digest = digest.partition(":")
    return f"blobs/{algorithm}/{hex_digest}"


def _verify_file(files: _Files, descriptor: Descriptor, what: str) -> None:
    name = _blob_name(descriptor.digest)
    if not files.exists(name):
        raise FetchError(f"{what}: blob {descriptor.digest} is missing from {files.where}")
    size = files.size(name)
    if size != descriptor.size:
        raise FetchError(
            f"{what}: blob {descriptor.digest} is {size} bytes; expected {descriptor.size}"
        )
    digest = hashlib.new(descriptor.digest.partition(":")[0])
    with files.open(name) as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    actual = f"{descriptor.digest.partition(':')[0]}:{digest.hexdigest()}"
    if actual != descriptor.digest:
        raise DigestMismatch(f"{what}: blob", descriptor.digest, actual)


def _local_name(ref: str, path: str) -> tuple[str, str]:
    """The ACI name and version for an image of a local file (see the module's docstring)."""
    if "/" in ref or ":" in ref:
        first = ref.split("/", 1)[0]
        qualified = "/" in ref and ("." in first or ":" in first or first == _LOCAL_HOST)
        parsed = parse_docker(ref if qualified else f"{_LOCAL_HOST}/{ref}")
        return parsed.image_name(), parsed.tag
    base = os.path.basename(path.rstrip("/")) or "image"
    stem = base.split(".")[0] or base
    return sanitize_identifier(f"{_LOCAL_HOST}/{stem}"), ref or "latest"


class LayoutSource:
    """An OCI image layout, in a directory or a tar (``oci:``, ``oci-archive:``)."""

    concurrent = False
    pinned = False

    def __init__(self, ref: LocalReference) -> None:
        self.ref = ref
        self.url = ref.url()
        self.name, self.version = _local_name(ref.ref, ref.path)
        self._files: _Files = _Directory(ref.path) if ref.transport == "oci" else _Archive(ref.path)

    def annotations(self) -> list[tuple[str, str]]:
        return [("appc.io/oci/ref", self.ref.ref)]

    def endpoint(self) -> str:
        return ""

    def prefer(self, endpoint: str) -> None:
        pass

    def _choose(self) -> Descriptor:
        where = self._files.where
        if not self._files.exists("index.json"):
            raise FetchError(f"{where}: not an OCI image layout (no index.json)")
        data = self._files.read("index.json", MAX_MANIFEST)
        index = parse_manifest(data, "", f"{where}/index.json")
        if not isinstance(index, Index):
            raise FetchError(f"{where}/index.json: not an image index")
        wanted = self.ref.ref
        if wanted:
            found = [d for d in index.manifests if d.annotations.get(REF_NAME) == wanted]
        else:
            found = list(index.manifests)
        if len(found) == 1:
            return found[0]
        names = sorted({d.annotations.get(REF_NAME, "") for d in index.manifests} - {""})
        listed = ", ".join(names) or "none"
        if found:
            raise FetchError(
                f"{where}: {len(found)} images in the layout", hint=f"name one of: {listed}"
            )
        raise FetchError(f'{where}: no image "{wanted}" in the layout', hint=f"it has: {listed}")

    def current(self) -> str | None:
        return self._choose().digest

    def _read(self, reference: str, what: str) -> tuple[bytes, str, str]:
        check_digest(reference, what)
        data = self._files.read(_blob_name(reference), MAX_MANIFEST)
        verify_bytes(data, reference, what)
        return data, "", reference

    def resolve(self) -> Resolved:
        what = self.url
        top = self._choose()
        _top, digest, manifest = resolve_manifest(self._read, top.digest, what)
        descriptor = manifest.config
        config_what = f"{what} config {descriptor.digest}"
        data = self._files.read(_blob_name(descriptor.digest), MAX_CONFIG)
        verify_bytes(data, descriptor.digest, config_what)
        config = parse_config(data, config_what)
        return Resolved(
            top.digest, digest, descriptor.digest, config, check_layers(manifest, config, what)
        )

    def open_layer(
        self, layer: LayerRef, tmp: Path, stop: threading.Event, progress: Progress | None
    ) -> IO[bytes]:
        _verify_file(self._files, layer.descriptor, self.url)
        file = self._files.open(_blob_name(layer.descriptor.digest))
        if progress is not None:
            progress(layer.descriptor.size)
        return file

    def close(self) -> None:
        self._files.close()


class _SavedImage(msgspec.Struct, rename="pascal"):
    config: str = ""
    repo_tags: tuple[str, ...] | None = None
    layers: tuple[str, ...] = ()


_HEX_NAME = re.compile(r"(?:blobs/sha256/)?([0-9a-f]{64})(?:\.json)?")


class DockerArchive:
    """``docker save`` output (``docker-archive:``)."""

    concurrent = False
    pinned = False

    def __init__(self, ref: LocalReference) -> None:
        self.ref = ref
        self.url = ref.url()
        self._files = _Archive(ref.path)
        try:
            self._image = self._choose()
            tags = self._image.repo_tags or ()
            tag = ref.ref or (tags[0] if tags else "")
            if tag:
                parsed: DockerReference = parse_docker(tag)
                self.name, self.version = parsed.image_name(), parsed.tag
            else:
                self.name, self.version = _local_name("", ref.path)
        except BaseException:
            self._files.close()
            raise

    def annotations(self) -> list[tuple[str, str]]:
        return [("appc.io/docker/tag", self.version)]

    def endpoint(self) -> str:
        return ""

    def prefer(self, endpoint: str) -> None:
        pass

    def _choose(self) -> _SavedImage:
        where = f"{self.ref.path}: manifest.json"
        if not self._files.exists("manifest.json"):
            raise FetchError(f"{self.ref.path}: not a docker archive (no manifest.json)")
        data = self._files.read("manifest.json", MAX_MANIFEST)
        images = decode(data, list[_SavedImage], where)
        wanted = self.ref.ref
        if wanted:
            full = parse_docker(wanted).full()
            found = [
                i for i in images if any(parse_docker(t).full() == full for t in i.repo_tags or ())
            ]
        else:
            found = images
        if len(found) == 1:
            return found[0]
        tags = sorted(t for i in images for t in i.repo_tags or ())
        listed = ", ".join(tags) or "none"
        if found:
            raise FetchError(f"{where}: {len(found)} images", hint=f"name one of: {listed}")
        raise FetchError(f'{where}: no image "{wanted}"', hint=f"it has: {listed}")

    def _config(self) -> tuple[str, bytes]:
        name = self._image.config
        data = self._files.read(name, MAX_CONFIG)
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        named = _HEX_NAME.fullmatch(name)
        if named is not None and f"sha256:{named.group(1)}" != digest:
            raise DigestMismatch(f"{self.url}: config {name}", f"sha256:{named.group(1)}", digest)
        return digest, data

    def current(self) -> str | None:
        return self._config()[0]

    def resolve(self) -> Resolved:
        digest, data = self._config()
        config = parse_config(data, f"{self.url} config {digest}")
        diff_ids = config.rootfs.diff_ids
        if len(diff_ids) != len(self._image.layers):
            raise FetchError(
                f"{self.url}: the config lists {len(diff_ids)} layers, manifest.json "
                f"{len(self._image.layers)}"
            )
        self._layer_files = dict(zip(diff_ids, self._image.layers, strict=True))
        layers = tuple(
            LayerRef(
                Descriptor(
                    media_type="application/vnd.docker.image.rootfs.diff.tar",
                    digest=diff_id,
                    size=self._files.size(self._layer_files[diff_id]),
                ),
                diff_id=diff_id,
            )
            for diff_id in diff_ids
        )
        return Resolved(digest, digest, digest, config, layers)

    def open_layer(
        self, layer: LayerRef, tmp: Path, stop: threading.Event, progress: Progress | None
    ) -> IO[bytes]:
        file = self._files.open(self._layer_files[layer.diff_id])
        if progress is not None:
            progress(layer.descriptor.size)
        return file

    def close(self) -> None:
        self._files.close()
