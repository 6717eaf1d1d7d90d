"""Helpers for the store tests: image layouts, raw (possibly hostile) archives, snapshots."""

from __future__ import annotations

import io
import json
import os
import tarfile
from pathlib import Path
from typing import Any

from rkt.datadir import DataDir
from rkt.store import Store


def manifest(name: str, **extra: Any) -> bytes:
    doc: dict[str, Any] = {"acKind": "ImageManifest", "acVersion": "0.8.11", "name": name}
    doc.update(extra)
    return json.dumps(doc).encode()


def layout_aci(
    tmp: Path,
    name: str,
    files: dict[str, str],
    *,
    labels: dict[str, str] | None = None,
    deps: list[dict[str, Any]] | None = None,
    whitelist: list[str] | None = None,
) -> Path:
    """Build an ACI with appc.aci.build from a layout; values starting with '->' are symlinks."""
    from appc.aci import build

    base = tmp / f"layout-{name.replace('/', '_')}-{os.urandom(3).hex()}"
    (base / "rootfs").mkdir(parents=True)
    extra: dict[str, Any] = {}
    if labels:
        extra["labels"] = [{"name": k, "value": v} for k, v in labels.items()]
    if deps:
        extra["dependencies"] = deps
    if whitelist:
        extra["pathWhitelist"] = whitelist
    (base / "manifest").write_bytes(manifest(name, **extra))
    for path, content in files.items():
        target = base / "rootfs" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        if content.startswith("->"):
            os.symlink(content[2:], target)
        elif content == "/":
            target.mkdir(exist_ok=True)
        else:
            target.write_text(content)
    out = base.parent / (base.name + ".aci")
    build(base, out)
    return out


def entry(
    name: str,
    kind: bytes = tarfile.REGTYPE,
    data: bytes = b"",
    *,
    linkname: str = "",
    mode: int = 0o644,
    pax: dict[str, str] | None = None,
    devmajor: int = 0,
    devminor: int = 0,
) -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.mtime = 1_500_000_000
    info.size = len(data) if kind == tarfile.REGTYPE else 0
    info.devmajor, info.devminor = devmajor, devminor
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def raw_aci(
    path: Path,
    entries: list[tuple[tarfile.TarInfo, bytes]],
    *,
    name: str = "example.com/hostile",
    manifest_bytes: bytes | None = None,
    fmt: int = tarfile.PAX_FORMAT,
    extra: dict[str, Any] | None = None,
) -> Path:
    """An archive written member by member with tarfile, which writes what it is told."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=fmt) as tar:
        data = manifest_bytes if manifest_bytes is not None else manifest(name, **(extra or {}))
        info, _ = entry("manifest", data=data)
        tar.addfile(info, io.BytesIO(data))
        root, _ = entry("rootfs", tarfile.DIRTYPE, mode=0o755)
        tar.addfile(root)
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if info.isreg() else None)
    path.write_bytes(buffer.getvalue())
    return path


def open_store(tmp: Path) -> Store:
    return Store(DataDir(tmp / "data"))


def snapshot(root: Path, *, skip: tuple[Path, ...] = ()) -> dict[str, tuple[int, int, bytes]]:
    """Every path under ``root`` (not following links) with mode, size and content or target."""
    result: dict[str, tuple[int, int, bytes]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        dirnames[:] = [d for d in dirnames if here / d not in skip]
        for name in dirnames + filenames:
            path = here / name
            if path in skip:
                continue
            st = path.lstat()
            if path.is_symlink():
                content = os.readlink(path).encode()
            elif path.is_file():
                content = path.read_bytes()
            else:
                content = b""
            result[str(path.relative_to(root))] = (st.st_mode, st.st_nlink, content)
    return result
