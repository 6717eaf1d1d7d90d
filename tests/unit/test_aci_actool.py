"""The actool sub-commands on top of appc.aci: build, cat-manifest, image-id."""

from __future__ import annotations

import hashlib
import lzma
from pathlib import Path

import pytest

from appc.aci import Compression, validate_archive
from appc.actool.main import main

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}'


def make_layout(root: Path) -> Path:
    layout = root / "layout"
    (layout / "rootfs" / "etc").mkdir(parents=True)
    (layout / "manifest").write_bytes(MANIFEST)
    (layout / "rootfs" / "etc" / "hostname").write_bytes(b"box\n")
    return layout


def test_build_prints_the_image_id(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "image.aci"
    assert main(["build", str(make_layout(tmp_path)), str(out)]) == 0
    printed = capsys.readouterr().out.strip()
    result = validate_archive(out)
    assert printed == result.image_id
    assert result.compression is Compression.GZIP


@pytest.mark.parametrize(
    ("flags", "compression"),
    [
        (["--no-compression"], Compression.NONE),
        (["-no-compression"], Compression.NONE),
        (["--no-compression=true"], Compression.NONE),
        (["--compression=xz"], Compression.XZ),
        (["--compression", "bzip2"], Compression.BZIP2),
    ],
)
def test_build_compression_flags(
    tmp_path: Path, flags: list[str], compression: Compression
) -> None:
    out = tmp_path / "image.aci"
    assert main(["build", *flags, str(make_layout(tmp_path)), str(out)]) == 0
    assert validate_archive(out).compression is compression


def test_build_refuses_overwrite_without_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = make_layout(tmp_path)
    out = tmp_path / "image.aci"
    out.write_bytes(b"keep")
    assert main(["build", str(layout), str(out)]) == 1
    assert capsys.readouterr().err == f"actool: {out}: target file exists (try --overwrite)\n"
    assert out.read_bytes() == b"keep"
    assert main(["build", "--overwrite", "--owner-root", str(layout), str(out)]) == 0


def test_build_wants_aci_extension(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["build", str(make_layout(tmp_path)), str(tmp_path / "image.tar")]) == 1
    assert "extension must be .aci" in capsys.readouterr().err
    assert not (tmp_path / "image.tar").exists()


def test_build_reports_invalid_layout_in_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    layout = make_layout(tmp_path)
    (layout / "manifest").write_bytes(b"{")
    assert main(["build", str(layout), str(tmp_path / "image.aci")]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"actool: {layout}: manifest")
    assert err.count("\n") == 1


@pytest.mark.parametrize("pretty", [False, True])
def test_cat_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str], pretty: bool) -> None:
    out = tmp_path / "image.aci"
    main(["build", "--compression=xz", str(make_layout(tmp_path)), str(out)])
    capsys.readouterr()
    assert main(["cat-manifest", *(["--pretty-print"] if pretty else []), str(out)]) == 0
    printed = capsys.readouterr().out
    if pretty:
        assert printed.startswith('{\n    "acKind": "ImageManifest",\n')
    else:
        assert printed.encode() == MANIFEST + b"\n"


def test_cat_manifest_of_a_non_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "notes.aci"
    path.write_bytes(b"just text")
    assert main(["cat-manifest", str(path)]) == 1
    assert capsys.readouterr().err.startswith(f"actool: {path}: unknown image format")


def test_image_id_of_several(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good = tmp_path / "good.aci"
    main(["build", "--compression=xz", str(make_layout(tmp_path)), str(good)])
    capsys.readouterr()
    bad = tmp_path / "bad.aci"
    bad.write_bytes(b"nope")
    assert main(["image-id", str(good), str(bad), str(good)]) == 1
    captured = capsys.readouterr()
    expected = "sha512-" + hashlib.sha512(lzma.decompress(good.read_bytes())).hexdigest()
    assert captured.out.splitlines() == [expected, expected]
    assert captured.err.startswith(f"actool: {bad}: ")
