"""A corpus of hostile and malformed inputs, shared by the refusal tests, the chaos test and
the soak (``bench/soak.py``), which count what they tried.

:func:`archives` gives ACIs that ``rkt fetch`` must refuse whole: broken compression and tar
structure, manifests that are not JSON or not valid (deeply nested, invalid UTF-8, NUL bytes,
numbers out of range, too large), members that try to leave the image (``..``, absolute
names, symlinks and hard links out, symlink loops and chains written through), names the
filesystem cannot hold, nesting past the limits, malformed file capabilities, and images with
a ``pathWhitelist`` (rendered only with their whitelist) that carry such members.
:func:`json_documents` gives JSON texts for every parser that reads JSON.

Import as ``tests.hostile``; nothing here touches the file system but the paths it is given.
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appc.schema.labels import host_os_arch

HOST_OS, HOST_ARCH = host_os_arch()
DIR, REG, SYM, LNK = tarfile.DIRTYPE, tarfile.REGTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE

Entry = tuple[tarfile.TarInfo, bytes]


def manifest(name: str, **extra: Any) -> dict[str, Any]:
    labels = [
        {"name": "version", "value": "1.0.0"},
        {"name": "os", "value": HOST_OS},
        {"name": "arch", "value": HOST_ARCH},
    ]
    doc: dict[str, Any] = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": name,
        "labels": labels,
    }
    doc.update(extra)
    return doc


def entry(
    name: str,
    kind: bytes = REG,
    data: bytes = b"",
    *,
    linkname: str = "",
    mode: int = 0o644,
    pax: dict[str, str] | None = None,
) -> Entry:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.mode = mode
    info.linkname = linkname
    info.mtime = 1_500_000_000
    info.size = len(data) if kind == REG else 0
    if pax:
        info.pax_headers = dict(pax)
    return info, data


def tar_bytes(
    entries: list[Entry], *, manifest_bytes: bytes | None, name: str = "example.com/hostile"
) -> bytes:
    """An uncompressed archive: the manifest (unless None), rootfs/, then ``entries``, written
    as given (tarfile writes what it is told)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        if manifest_bytes is not None:
            info, _ = entry("manifest", data=manifest_bytes)
            tar.addfile(info, io.BytesIO(manifest_bytes))
        root, _ = entry("rootfs", DIR, mode=0o755)
        tar.addfile(root)
        for info, payload in entries:
            tar.addfile(info, io.BytesIO(payload) if info.isreg() else None)
    return buffer.getvalue()


def aci(entries: list[Entry], name: str = "example.com/hostile", **extra: Any) -> bytes:
    return tar_bytes(entries, manifest_bytes=json.dumps(manifest(name, **extra)).encode())


@dataclass(frozen=True)
class Hostile:
    """One hostile archive: ``what`` it tries, its bytes, and whether the refusal needs root
    (capabilities are applied only as root)."""

    what: str
    data: bytes
    root_only: bool = False


def _nested(depth: int) -> str:
    return "/".join(f"d{n % 10}" for n in range(depth))


def _deep_json(depth: int) -> bytes:
    return b'{"acKind": "ImageManifest", "x": ' + b"[" * depth + b"]" * depth + b"}"


def _manifest_cases() -> Iterator[Hostile]:
    good = json.dumps(manifest("example.com/hostile")).encode()
    yield Hostile("no manifest", tar_bytes([entry("rootfs/f", data=b"x")], manifest_bytes=None))
    yield Hostile("manifest not JSON", tar_bytes([], manifest_bytes=b"{not json"))
    yield Hostile("manifest nested 100000 deep", tar_bytes([], manifest_bytes=_deep_json(100_000)))
    yield Hostile("manifest nested 65 deep", tar_bytes([], manifest_bytes=_deep_json(65)))
    yield Hostile("manifest of invalid UTF-8", tar_bytes([], manifest_bytes=good[:-2] + b'\xff"}'))
    yield Hostile(
        "manifest with a NUL byte", tar_bytes([], manifest_bytes=good.replace(b"hostile", b"h\0"))
    )
    app = b'"app": {"exec": ["/x"], "user": "0", "group": "0", "isolators": [{"name": '
    app += b'"resource/memory", "value": {"limit": NUMBER}}]}}'
    for number in (b"1e400", b"-1e400", b"Infinity", b"NaN"):
        yield Hostile(
            f"manifest with the number {number[:12].decode()}",
            tar_bytes([], manifest_bytes=good[:-1] + b", " + app.replace(b"NUMBER", number)),
        )
    yield Hostile("manifest of 2 MiB", tar_bytes([], manifest_bytes=good + b" " * (2 << 20)))
    yield Hostile("manifest a JSON array", tar_bytes([], manifest_bytes=b"[1, 2, 3]"))
    yield Hostile(
        "manifest with a huge integer",
        tar_bytes([], manifest_bytes=good[:-1] + b', "acVersion": ' + b"9" * 5000 + b"}"),
    )
    yield Hostile("manifest with an invalid name", aci([], name="Not A Name!"))


def _archive_cases() -> Iterator[Hostile]:
    tar = aci([entry("rootfs/f", data=b"x" * 4096)])
    yield Hostile("empty file", b"")
    yield Hostile("random bytes", bytes(range(256)) * 64)
    yield Hostile("truncated tar", tar[: len(tar) // 2 + 100])
    compressed = gzip.compress(tar)
    yield Hostile("truncated gzip", compressed[: len(compressed) // 2])
    broken = bytearray(compressed)
    broken[-6] ^= 0xFF  # the CRC32 in the trailer
    yield Hostile("gzip with a bad CRC", bytes(broken))
    yield Hostile("gzip of random bytes", gzip.compress(os.urandom(4096)))
    yield Hostile("zlib stream, not gzip", zlib.compress(tar))
    yield Hostile(
        "duplicate members", aci([entry("rootfs/f", data=b"1"), entry("rootfs/f", data=b"2")])
    )
    yield Hostile("member outside rootfs", aci([entry("etc/passwd", data=b"x")]))


def _escape_cases() -> Iterator[Hostile]:
    yield Hostile("member with ..", aci([entry("rootfs/../../escape", data=b"x")]))
    yield Hostile("absolute member", aci([entry("/tmp/escape", data=b"x")]))
    yield Hostile(
        "pax path with ..", aci([entry("rootfs/ok", data=b"x", pax={"path": "rootfs/../../e"})])
    )
    yield Hostile(
        "write through an absolute symlink",
        aci([entry("rootfs/link", SYM, linkname="/tmp"), entry("rootfs/link/escape", data=b"x")]),
    )
    yield Hostile(
        "write through a relative symlink",
        aci([entry("rootfs/link", SYM, linkname="../../../.."),
             entry("rootfs/link/escape", data=b"x")]),
    )  # fmt: skip
    yield Hostile(
        "write through a symlink loop",
        aci([entry("rootfs/a", SYM, linkname="b"), entry("rootfs/b", SYM, linkname="a"),
             entry("rootfs/a/x", data=b"x")]),
    )  # fmt: skip
    yield Hostile(
        "write through a symlink chain",
        aci([entry("rootfs/c1", SYM, linkname="c2"), entry("rootfs/c2", SYM, linkname="c3"),
             entry("rootfs/c3", SYM, linkname="/etc"), entry("rootfs/c1/passwd", data=b"x")]),
    )  # fmt: skip
    yield Hostile("hard link out", aci([entry("rootfs/h", LNK, linkname="/etc/passwd")]))
    yield Hostile(
        "hard link to a symlink",
        aci([entry("rootfs/s", SYM, linkname="/etc/passwd"),
             entry("rootfs/h", LNK, linkname="rootfs/s")]),
    )  # fmt: skip
    yield Hostile(
        "file replacing a directory of the same archive",
        aci([entry("rootfs/d", DIR, mode=0o755), entry("rootfs/d/f", data=b"x"),
             entry("rootfs/d", data=b"file")]),
    )  # fmt: skip


def _limit_cases() -> Iterator[Hostile]:
    yield Hostile("a name of 300 bytes", aci([entry("rootfs/" + "n" * 300, data=b"x")]))
    yield Hostile(
        "a path of 5000 bytes", aci([entry("rootfs/" + "/".join(["p" * 200] * 25), data=b"x")])
    )
    yield Hostile(
        "1500 nested directories",
        aci([entry("rootfs/" + _nested(1500), DIR, mode=0o755)]),
    )
    yield Hostile(
        "malformed file capability",
        aci([entry("rootfs/cap", data=b"x", pax={"SCHILY.xattr.security.capability": "junk"})]),
        root_only=True,
    )
    yield Hostile(
        "unsupported file capability revision",
        aci([entry("rootfs/cap", data=b"x",
                   pax={"SCHILY.xattr.security.capability": "\x00\x00\x00\x09" + "\x00" * 16})]),
        root_only=True,
    )  # fmt: skip


def _whitelist_cases() -> Iterator[Hostile]:
    """Images with a pathWhitelist are rendered apart from the import's pass."""
    whitelist = ["/ok", "/link", "/link/escape", "/a", "/b", "/a/x"]
    yield Hostile(
        "whitelisted write through a symlink",
        aci([entry("rootfs/ok", data=b"x"), entry("rootfs/link", SYM, linkname="/tmp"),
             entry("rootfs/link/escape", data=b"x")], pathWhitelist=whitelist),
    )  # fmt: skip
    yield Hostile(
        "whitelisted write through a symlink loop",
        aci([entry("rootfs/a", SYM, linkname="b"), entry("rootfs/b", SYM, linkname="a"),
             entry("rootfs/a/x", data=b"x")], pathWhitelist=whitelist),
    )  # fmt: skip
    yield Hostile(
        "whitelisted 1500 nested directories",
        aci([entry("rootfs/" + _nested(1500), DIR, mode=0o755)], pathWhitelist=whitelist),
    )


def archives(*, as_root: bool | None = None) -> list[Hostile]:
    """The hostile archives (those needing root left out unless running as root)."""
    root = os.geteuid() == 0 if as_root is None else as_root
    cases = [
        *_manifest_cases(),
        *_archive_cases(),
        *_escape_cases(),
        *_limit_cases(),
        *_whitelist_cases(),
    ]
    return [case for case in cases if root or not case.root_only]


def write_archives(directory: Path, cases: list[Hostile]) -> list[tuple[Hostile, Path]]:
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for n, case in enumerate(cases):
        path = directory / f"hostile-{n:02d}.aci"
        path.write_bytes(case.data)
        written.append((case, path))
    return written


# --- JSON -------------------------------------------------------------------------------------


def json_documents() -> list[tuple[str, bytes]]:
    """JSON texts no parser may answer with anything but its documented error."""
    return [
        ("nested 100000 deep", b"[" * 100_000 + b"]" * 100_000),
        ("objects nested 100000 deep", b'{"a":' * 100_000 + b"1" + b"}" * 100_000),
        ("invalid UTF-8", b'{"a": "\xff\xfe"}'),
        ("a NUL byte", b'{"a": "\x00"}'),
        ("a raw NUL byte outside a string", b'{"a":\x001}'),
        ("a number out of range", b'{"a": 1e400}'),
        ("a huge integer", b'{"a": ' + b"9" * 10_000 + b"}"),
        ("duplicate keys", b'{"a": 1, "a": "two"}'),
        ("a lone surrogate", b'{"a": "\\ud800"}'),
        ("truncated", b'{"a": [1, 2'),
        ("empty", b""),
        ("not an object", b"[]"),
        ("a string", b'"text"'),
        ("null", b"null"),
        ("a BOM", b'\xef\xbb\xbf{"a": 1}'),
        ("8 MiB of spaces", b" " * (8 << 20) + b"{}"),
    ]
