"""The JSON documents of an OCI or Docker image: manifests, indexes (manifest lists) and the
image config, parsed into frozen structs with the checks that make them safe to act on.

Manifests: Docker schema 2 (``application/vnd.docker.distribution.manifest.v2+json``) and the
OCI image manifest; indexes: Docker manifest lists and OCI image indexes. Docker schema 1 is
refused with a hint: its digests cannot be checked without re-serialising a JWS, and no
current registry serves it for images pushed in the last years.

Every descriptor's digest is checked when it is parsed (:mod:`~rkt.fetch.oci.digest`), sizes
must be non-negative, and a document is at most :data:`MAX_MANIFEST` or :data:`MAX_CONFIG`
bytes. JSON nested too deeply for the parser becomes a one-line error, not a traceback.
"""

from __future__ import annotations

import os
from typing import TypeVar

import msgspec

from rkt.errors import FetchError
from rkt.fetch.oci.digest import check_digest

MiB = 1024 * 1024
#: containers/image caps manifests at 4 MiB; real ones are a few KiB.
MAX_MANIFEST = 4 * MiB
#: Configs carry the build history, so they can be larger than manifests, but not much.
MAX_CONFIG = 8 * MiB

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
SCHEMA1 = (
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
)
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
#: The Accept header of manifest requests: images and indexes of both families.
ACCEPT = ", ".join((*MANIFEST_TYPES, *INDEX_TYPES))
LAYER_TYPES = frozenset(
    {
        "application/vnd.oci.image.layer.v1.tar",
        "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.oci.image.layer.v1.tar+zstd",
        "application/vnd.oci.image.layer.nondistributable.v1.tar",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
        "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
        "application/vnd.docker.image.rootfs.diff.tar",
        "application/vnd.docker.image.rootfs.diff.tar.gzip",
        "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
    }
)


class Platform(msgspec.Struct, frozen=True, rename="camel"):
    architecture: str = ""
    os: str = ""
    variant: str = ""


class Descriptor(msgspec.Struct, frozen=True, rename="camel"):
    media_type: str = ""
    digest: str = ""
    size: int = -1
    platform: Platform | None = None
    annotations: dict[str, str] = {}


class Manifest(msgspec.Struct, frozen=True, rename="camel"):
    """An image manifest: one config and the layers, lowest first."""

    schema_version: int = 0
    media_type: str = ""
    config: Descriptor = Descriptor()
    layers: tuple[Descriptor, ...] = ()


class Index(msgspec.Struct, frozen=True, rename="camel"):
    """An index or manifest list: manifests, by platform."""

    schema_version: int = 0
    media_type: str = ""
    manifests: tuple[Descriptor, ...] = ()


class ContainerConfig(msgspec.Struct, frozen=True, rename="pascal"):
    """The ``config`` object of an image config (what the container runs)."""

    user: str = ""
    exposed_ports: dict[str, dict[str, str]] | None = None
    env: tuple[str, ...] | None = None
    entrypoint: tuple[str, ...] | None = None
    cmd: tuple[str, ...] | None = None
    volumes: dict[str, dict[str, str]] | None = None
    working_dir: str = ""
    labels: dict[str, str] | None = None
    stop_signal: str = ""


class RootFS(msgspec.Struct, frozen=True):
    type: str = ""
    diff_ids: tuple[str, ...] = ()


class ImageConfig(msgspec.Struct, frozen=True):
    """An image config (OCI image-spec config.md; Docker's is the same for these fields)."""

    architecture: str = ""
    os: str = ""
    variant: str = ""
    created: str = ""
    author: str = ""
    config: ContainerConfig = ContainerConfig()
    rootfs: RootFS = RootFS()


_T = TypeVar("_T")


def decode(data: bytes, kind: type[_T], what: str) -> _T:
    """``data`` as ``kind``; every failure is a one-line :class:`FetchError` naming ``what``."""
    try:
        return msgspec.json.decode(data, type=kind)
    except msgspec.ValidationError as err:
        raise FetchError(f"{what}: invalid document: {err}") from err
    except msgspec.DecodeError as err:
        raise FetchError(f"{what}: not valid JSON: {err}") from err
    except RecursionError as err:
        raise FetchError(f"{what}: JSON nested too deeply") from err


class _Probe(msgspec.Struct, rename="camel"):
    # Raw: present or not is all that matters here (empty when absent).
    schema_version: int = 0
    media_type: str = ""
    manifests: msgspec.Raw = msgspec.Raw()
    layers: msgspec.Raw = msgspec.Raw()
    fs_layers: msgspec.Raw = msgspec.Raw()


def parse_manifest(data: bytes, content_type: str, what: str) -> Manifest | Index:
    """A manifest or an index, told apart by its ``mediaType`` (or the response's
    ``Content-Type`` when the document has none, as OCI allows) and by its fields."""
    probe = decode(data, _Probe, what)
    kind = probe.media_type or content_type.split(";")[0].strip()
    if kind in SCHEMA1 or probe.schema_version == 1 or len(probe.fs_layers) > 0:
        raise FetchError(
            f"{what}: Docker schema 1 manifests are not supported",
            hint="push the image again with a current docker, podman or skopeo",
        )
    if probe.schema_version != 2:
        raise FetchError(f"{what}: schemaVersion {probe.schema_version}; expected 2")
    if kind in INDEX_TYPES or (kind not in MANIFEST_TYPES and len(probe.manifests) > 0):
        index = decode(data, Index, what)
        for n, entry in enumerate(index.manifests):
            _check_descriptor(entry, f"{what}: manifests[{n}]")
        return index
    if kind not in MANIFEST_TYPES and not len(probe.layers):
        raise FetchError(f'{what}: media type "{kind}" is not an image manifest or index')
    manifest = decode(data, Manifest, what)
    _check_descriptor(manifest.config, f"{what}: config")
    if manifest.config.media_type not in (OCI_CONFIG, DOCKER_CONFIG, ""):
        raise FetchError(
            f'{what}: config media type "{manifest.config.media_type}" is not a container '
            "image's (an OCI artifact?)"
        )
    for n, layer in enumerate(manifest.layers):
        where = f"{what}: layers[{n}]"
        _check_descriptor(layer, where)
        if layer.media_type not in LAYER_TYPES:
            raise FetchError(f'{where}: unsupported layer media type "{layer.media_type}"')
    return manifest


def _check_descriptor(descriptor: Descriptor, where: str) -> None:
    check_digest(descriptor.digest, where)
    if descriptor.size < 0:
        raise FetchError(f"{where}: missing or negative size")


def parse_config(data: bytes, what: str) -> ImageConfig:
    config = decode(data, ImageConfig, what)
    for n, diff_id in enumerate(config.rootfs.diff_ids):
        check_digest(diff_id, f"{what}: rootfs.diff_ids[{n}]")
    return config


# --- platforms ---------------------------------------------------------------------------

# platform.machine() to GOARCH and the variants that can run here, best first (containers/image
# picks the same way: the host's own variant, then older ones of the same family).
_HOST_PLATFORMS: dict[str, tuple[str, tuple[str, ...]]] = {
    "x86_64": ("amd64", ("", "v1", "v2", "v3")),
    "amd64": ("amd64", ("", "v1", "v2", "v3")),
    "aarch64": ("arm64", ("v8", "")),
    "arm64": ("arm64", ("v8", "")),
    "armv7l": ("arm", ("v7", "v6", "v5", "")),
    "armv6l": ("arm", ("v6", "v5", "")),
    "i686": ("386", ("",)),
    "i386": ("386", ("",)),
    "ppc64le": ("ppc64le", ("",)),
    "s390x": ("s390x", ("",)),
    "riscv64": ("riscv64", ("",)),
}


def host_platform(machine: str | None = None) -> tuple[str, tuple[str, ...]]:
    """This machine's GOARCH and the variants it runs, best first."""
    if machine is None:
        machine = os.uname().machine
    name = machine.lower()
    return _HOST_PLATFORMS.get(name, (name, ("",)))


def select_platform(index: Index, what: str, machine: str | None = None) -> Descriptor:
    """The index entry for linux on this machine's architecture, the best variant first."""
    arch, variants = host_platform(machine)
    candidates = [
        d
        for d in index.manifests
        if d.platform is not None
        and d.platform.os == "linux"
        and d.platform.architecture == arch
        and d.media_type in (*MANIFEST_TYPES, "")
    ]
    for variant in variants:
        for descriptor in candidates:
            assert descriptor.platform is not None
            if descriptor.platform.variant == variant:
                return descriptor
    offered = sorted(
        {
            "/".join(p for p in (d.platform.os, d.platform.architecture, d.platform.variant) if p)
            for d in index.manifests
            if d.platform is not None
        }
    )
    raise FetchError(
        f"{what}: no image for linux/{arch} in the index",
        hint=f"it has {', '.join(offered) or 'no platforms'}",
    )


# GOOS/GOARCH (+ variant) to appc's os and arch labels (appc types.ToAppcOSArch).
_APPC_ARCH = {
    ("amd64", ""): "amd64",
    ("386", ""): "i386",
    ("arm64", ""): "aarch64",
    ("arm64", "v8"): "aarch64",
    ("arm", ""): "armv6l",
    ("arm", "v6"): "armv6l",
    ("arm", "v7"): "armv7l",
    ("ppc64", ""): "ppc64",
    ("ppc64le", ""): "ppc64le",
    ("s390x", ""): "s390x",
}


def appc_os_arch(config: ImageConfig, what: str) -> tuple[str, str]:
    """The image's ``os`` and ``arch`` labels; only Linux images can be run."""
    if config.os != "linux":
        raise FetchError(f'{what}: the image is for "{config.os or "no os"}"; expected linux')
    variant = config.variant if config.architecture in ("arm", "arm64") else ""
    arch = _APPC_ARCH.get((config.architecture, variant))
    if arch is None:
        arch = _APPC_ARCH.get((config.architecture, ""))
    if arch is None:
        raise FetchError(f'{what}: architecture "{config.architecture}" has no appc name')
    return "linux", arch
