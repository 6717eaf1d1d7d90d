"""Building OCI image layouts for tests: layers written with tarfile (which writes whatever it
is told, hostile entries included), gzip, zstd or plain; configs; manifests (OCI or Docker
schema 2); indexes; and ``index.json`` with ref names, as skopeo and umoci write them.

The busybox-static base (:func:`busybox_entries`) gives images that run real pods.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "id", "cat", "echo", "env", "pwd", "ls", "test", "sleep", "nc", "httpd", "wc")
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1500:app:/home/app:/bin/sh\n"
GROUP = "root:x:0:\nstaff:x:1500:\nextra:x:2000:\n"

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_TYPES = {
    "gzip": "application/vnd.oci.image.layer.v1.tar+gzip",
    "zstd": "application/vnd.oci.image.layer.v1.tar+zstd",
    "none": "application/vnd.oci.image.layer.v1.tar",
}

Entry = tuple[tarfile.TarInfo, bytes]


def _info(name: str, kind: bytes, mode: int, **kw: Any) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.mtime = kw.pop("mtime", 1_600_000_000)
    for key, value in kw.items():
        setattr(info, key, value)
    return info


def file(name: str, data: bytes | str, mode: int = 0o644, **kw: Any) -> Entry:
    raw = data.encode() if isinstance(data, str) else data
    info = _info(name, tarfile.REGTYPE, mode, size=len(raw), **kw)
    return info, raw


def directory(name: str, mode: int = 0o755, **kw: Any) -> Entry:
    return _info(name, tarfile.DIRTYPE, mode, **kw), b""


def symlink(name: str, target: str) -> Entry:
    return _info(name, tarfile.SYMTYPE, 0o777, linkname=target), b""


def hardlink(name: str, target: str) -> Entry:
    return _info(name, tarfile.LNKTYPE, 0o644, linkname=target), b""


def whiteout(path: str) -> Entry:
    parent, _slash, base = path.rpartition("/")
    return file(f"{parent}/.wh.{base}" if parent else f".wh.{base}", b"", 0o600)


def opaque(directory_path: str) -> Entry:
    return file(f"{directory_path}/.wh..wh..opq", b"", 0o600)


def busybox_entries(applets: tuple[str, ...] = APPLETS) -> list[Entry]:
    """A busybox-static userland: /bin/busybox with applet links, /etc/passwd and group."""
    with open(BUSYBOX, "rb") as f:
        busybox = f.read()
    entries = [directory("bin"), file("bin/busybox", busybox, 0o755)]
    entries += [symlink(f"bin/{name}", "busybox") for name in applets]
    entries += [directory("etc"), file("etc/passwd", PASSWD), file("etc/group", GROUP)]
    entries += [directory("tmp", 0o1777), directory("home"), directory("home/app", uid=1000)]
    return entries


def tar_bytes(entries: list[Entry]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "gzip":
        return gzip.compress(data, compresslevel=6, mtime=0)
    if compression == "zstd":
        try:
            from compression import zstd  # type: ignore[import-not-found, unused-ignore]
        except ImportError:
            from backports import zstd  # type: ignore[import-not-found, no-redef, unused-ignore]
        result: bytes = zstd.compress(data)
        return result
    assert compression == "none"
    return data


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


@dataclass
class Layout:
    """An OCI image layout being written at ``root``."""

    root: Path
    refs: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        (self.root / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
        (self.root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')

    def blob(self, data: bytes, media_type: str) -> dict[str, Any]:
        digest = sha256(data)
        (self.root / "blobs" / "sha256" / digest.partition(":")[2]).write_bytes(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def layer(self, entries: list[Entry], compression: str = "gzip") -> dict[str, Any]:
        raw = tar_bytes(entries)
        descriptor = self.blob(compress(raw, compression), LAYER_TYPES[compression])
        descriptor["diff_id"] = sha256(raw)
        return descriptor

    def image(
        self,
        layers: list[dict[str, Any]],
        container: dict[str, Any] | None = None,
        *,
        arch: str = "amd64",
        variant: str = "",
        os_name: str = "linux",
        created: str = "2024-01-02T03:04:05Z",
    ) -> dict[str, Any]:
        config: dict[str, Any] = {
            "architecture": arch,
            "os": os_name,
            "created": created,
            "config": container or {},
            "rootfs": {"type": "layers", "diff_ids": [layer["diff_id"] for layer in layers]},
        }
        if variant:
            config["variant"] = variant
        config_descriptor = self.blob(json.dumps(config).encode(), OCI_CONFIG)
        manifest = {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": config_descriptor,
            "layers": [{k: v for k, v in layer.items() if k != "diff_id"} for layer in layers],
        }
        descriptor = self.blob(json.dumps(manifest).encode(), OCI_MANIFEST)
        descriptor["platform"] = {"architecture": arch, "os": os_name}
        if variant:
            descriptor["platform"]["variant"] = variant
        return descriptor

    def index(self, manifests: list[dict[str, Any]]) -> dict[str, Any]:
        document = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}
        return self.blob(json.dumps(document).encode(), OCI_INDEX)

    def tag(self, descriptor: dict[str, Any], ref: str) -> None:
        entry = {k: v for k, v in descriptor.items() if k != "platform"}
        entry["annotations"] = {"org.opencontainers.image.ref.name": ref}
        self.refs.append(entry)
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": self.refs}
        (self.root / "index.json").write_text(json.dumps(index))


def host_arch() -> str:
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)
