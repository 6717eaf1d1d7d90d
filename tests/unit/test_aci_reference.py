"""Differential tests against the reference actool (appc-spec 0.8.11): each reads the other's
archives, and both reach the same verdicts and print the same manifests."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from appc.aci import Compression, build, read_manifest, validate_archive
from appc.errors import AppcError

REFERENCE = "/usr/bin/actool"
pytestmark = [
    pytest.mark.reference,
    pytest.mark.skipif(
        not os.path.exists(REFERENCE), reason="the reference actool is not installed"
    ),
]

MANIFEST = (
    b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/app",'
    b'"labels":[{"name":"version","value":"1.0"},{"name":"os","value":"linux"},'
    b'{"name":"arch","value":"amd64"}],'
    b'"app":{"exec":["/bin/sh","-c","echo <hi> & bye"],"user":"0","group":"0",'
    b'"environment":[{"name":"A","value":"b"}],'
    b'"ports":[{"name":"http","protocol":"tcp","port":80}]},'
    b'"annotations":[{"name":"authors","value":"A <a@example.com>"}]}'
)


def reference(*args: str | Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run([REFERENCE, *map(str, args)], capture_output=True, check=False)


def make_layout(root: Path, manifest: bytes = MANIFEST) -> Path:
    layout = root / "layout"
    (layout / "rootfs" / "bin").mkdir(parents=True)
    (layout / "manifest").write_bytes(manifest)
    (layout / "rootfs" / "bin" / "tool").write_bytes(b"tool\n")
    (layout / "rootfs" / "bin" / "tool").chmod(0o4755)
    (layout / "rootfs" / "bin" / "link").hardlink_to(layout / "rootfs" / "bin" / "tool")
    (layout / "rootfs" / "bin" / "sh").symlink_to("/bin/busybox")
    return layout


@pytest.mark.parametrize("compress", [True, False])
def test_we_read_reference_archives(tmp_path: Path, compress: bool) -> None:
    layout = make_layout(tmp_path)
    out = tmp_path / "ref.aci"
    flags = ["--owner-root"] + ([] if compress else ["--no-compression"])
    result = reference("build", *flags, layout, out)
    assert result.returncode == 0, result.stderr
    data = out.read_bytes()
    tar = gzip.decompress(data) if compress else data
    validated = validate_archive(out)
    assert validated.image_id == "sha512-" + hashlib.sha512(tar).hexdigest()
    assert validated.compression is (Compression.GZIP if compress else Compression.NONE)
    raw, manifest = read_manifest(out)
    assert manifest.to_json() == raw  # the reference stores its own re-encoding


@pytest.mark.parametrize("compression", list(Compression))
def test_reference_validates_ours(tmp_path: Path, compression: Compression) -> None:
    if compression is Compression.XZ and shutil.which("xz") is None:
        pytest.skip("the reference needs the xz program for xz archives")
    out = tmp_path / "ours.aci"
    build(make_layout(tmp_path), out, compression=compression)
    result = reference("--debug", "validate", out)
    assert result.returncode == 0, result.stderr
    assert b"valid app container image" in result.stderr


@pytest.mark.parametrize("pretty", [False, True])
def test_cat_manifest_matches_reference(tmp_path: Path, pretty: bool) -> None:
    out = tmp_path / "ours.aci"
    build(make_layout(tmp_path), out)
    flags = ["--pretty-print"] if pretty else []
    expected = reference("cat-manifest", *flags, out)
    assert expected.returncode == 0, expected.stderr
    ours = subprocess.run(
        [sys.executable, "-m", "appc.actool.main", "cat-manifest", *flags, str(out)],
        capture_output=True,
        check=False,
    )
    assert ours.returncode == 0, ours.stderr
    assert ours.stdout == expected.stdout


def _tar(*entries: tuple[str, bytes | None]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            if data is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


SMALL = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}'
GOOD = [("manifest", SMALL), ("rootfs", None), ("rootfs/a", b"a")]


@pytest.mark.parametrize(
    ("entries", "valid"),
    [
        (GOOD, True),
        ([("./", None), ("./manifest", SMALL), ("./rootfs/", None)], True),
        ([*GOOD, ("etc/passwd", b"x")], False),
        ([*GOOD, ("rootfs/a", b"again")], False),
        (GOOD[1:], False),
        ([GOOD[0], ("rootfs/a", b"a")], False),
        ([("manifest", b"{}"), *GOOD[1:]], False),
    ],
)
def test_same_verdicts_as_reference(
    tmp_path: Path, entries: list[tuple[str, bytes | None]], valid: bool
) -> None:
    path = tmp_path / "case.aci"
    path.write_bytes(_tar(*entries))
    result = reference("validate", path)
    assert (result.returncode == 0) is valid, result.stderr
    if valid:
        validate_archive(path)
    else:
        with pytest.raises(AppcError):
            validate_archive(path)
