"""Running both ``actool``s and building the files they are given.

The reference is the Go ``actool`` of appc 0.8.11 at :data:`REFERENCE`; ours is the console
script installed next to the running interpreter, so the suite tests the venv it runs in.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from .cases import Divergence, Entry

#: Overridable for a reference installed elsewhere (REFERENCE_ACTOOL=/path/to/actool).
REFERENCE = os.environ.get("REFERENCE_ACTOOL", "/usr/bin/actool")
OURS = shutil.which("actool", path=os.path.dirname(sys.executable))

# Both tools are quick; a case that takes this long is hung, not slow.
TIMEOUT = 60


@dataclass(frozen=True)
class Run:
    """The outcome of one ``actool`` invocation."""

    returncode: int
    stdout: bytes
    stderr: str

    @property
    def crashed(self) -> bool:
        """A Go panic (exit 2 with a "panic:" banner), as opposed to a reported error."""
        return self.returncode == 2 and "panic:" in self.stderr

    @property
    def verdict(self) -> str:
        if self.crashed:
            return "crash"
        return "valid" if self.returncode == 0 else "invalid"


def run(tool: str, *args: str | os.PathLike[str], cwd: Path | None = None) -> Run:
    done = subprocess.run(
        [tool, *map(str, args)], capture_output=True, timeout=TIMEOUT, cwd=cwd, check=False
    )
    return Run(done.returncode, done.stdout, done.stderr.decode(errors="replace"))


def ours(*args: str | os.PathLike[str], cwd: Path | None = None) -> Run:
    assert OURS is not None, f"no actool next to {sys.executable}"
    return run(OURS, *args, cwd=cwd)


def reference(*args: str | os.PathLike[str], cwd: Path | None = None) -> Run:
    return run(REFERENCE, *args, cwd=cwd)


def assert_clean_error(result: Run, path: Path) -> None:
    """Our tool reports an invalid file on one line that names it, never with a traceback."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got {lines!r}"
    assert str(path) in lines[0], f"{path} not named in {lines[0]!r}"


def params(items: Iterable[Any]) -> list[Any]:
    """``pytest.param`` for each case or divergence, with its id and its xfail mark, if any."""
    result = []
    for item in items:
        case = item.case if isinstance(item, Divergence) else item
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        result.append(pytest.param(item, id=case.id, marks=marks))
    return result


# --------------------------------------------------------------------------------------------
# Image archives and layouts.

_TYPES = {
    "file": tarfile.REGTYPE,
    "dir": tarfile.DIRTYPE,
    "symlink": tarfile.SYMTYPE,
    "hardlink": tarfile.LNKTYPE,
}


def tar_bytes(entries: Iterable[Entry]) -> bytes:
    """A POSIX tar stream holding ``entries`` in order, duplicates included."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            info = tarfile.TarInfo(entry.name)
            info.type = _TYPES[entry.type]
            info.mode = 0o755 if entry.type == "dir" else 0o644
            info.mtime = 1_500_000_000
            info.uname = info.gname = "root"
            if entry.type in ("symlink", "hardlink"):
                info.linkname = entry.linkname
            data = entry.data if entry.type == "file" else b""
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if entry.type == "file" else None)
    return buffer.getvalue()


def compress(data: bytes, compression: str) -> bytes:
    if compression == "none":
        return data
    if compression == "gzip":
        return gzip.compress(data, mtime=0)
    if compression == "bzip2":
        return bz2.compress(data)
    if compression == "xz":
        return lzma.compress(data, format=lzma.FORMAT_XZ)
    raise ValueError(compression)


def write_archive(path: Path, entries: Sequence[Entry], compression: str) -> Path:
    path.write_bytes(compress(tar_bytes(entries), compression))
    return path


def write_layout(root: Path, entries: Sequence[Entry]) -> Path:
    """An image layout directory holding ``entries`` (a later entry replaces an earlier one)."""
    root.mkdir()
    for entry in entries:
        target = root / entry.name
        target.parent.mkdir(parents=True, exist_ok=True)
        if entry.type == "dir":
            target.mkdir(exist_ok=True)
        elif entry.type == "symlink":
            target.symlink_to(entry.linkname)
        elif entry.type == "file":
            target.write_bytes(entry.data)
        else:
            raise ValueError(f"layouts cannot hold {entry.type} entries")
    return root
