"""``actool validate`` on image archives and layouts, and images built by either tool."""

from __future__ import annotations

import shutil
import tarfile
from pathlib import Path

import pytest

from .cases import (
    ARCHIVE_CASES,
    ARCHIVE_DIVERGENCES,
    BAD_UTF8_MANIFEST,
    IMAGE_CASES,
    ISOLATOR_CASES,
    LAYOUT_CASES,
    LAYOUT_DIVERGENCES,
    MANIFEST,
    ROOTFS,
    VALID_IMAGE,
    Case,
    Divergence,
    Entry,
    ImageCase,
    app,
    image,
    manifest_entry,
)
from .harness import (
    assert_clean_error,
    compress,
    ours,
    params,
    reference,
    tar_bytes,
    write_archive,
    write_layout,
)


def check_ours(verdict: str, path: Path, *args: str) -> None:
    result = ours("validate", *args, path)
    assert result.verdict == verdict, result.stderr
    if verdict == "invalid":
        assert result.returncode == 1
        assert_clean_error(result, path)
    else:
        assert result.stderr == ""


def archive(case: ImageCase, tmp_path: Path) -> Path:
    path = write_archive(tmp_path / f"{case.id}.aci", case.entries, case.compression)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - case.cut] + case.trailer)
    return path


def layout(case: ImageCase, tmp_path: Path) -> Path:
    return write_layout(tmp_path / case.id, case.entries)


@pytest.mark.parametrize("case", params(ARCHIVE_CASES))
def test_archive(case: ImageCase, tmp_path: Path) -> None:
    path = archive(case, tmp_path)
    assert reference("validate", path).verdict == case.verdict
    check_ours(case.verdict, path)


@pytest.mark.parametrize("case", params(LAYOUT_CASES))
def test_layout(case: ImageCase, tmp_path: Path) -> None:
    path = layout(case, tmp_path)
    assert reference("validate", path).verdict == case.verdict
    check_ours(case.verdict, path)


@pytest.mark.parametrize("divergence", params(ARCHIVE_DIVERGENCES))
def test_archive_divergence(divergence: Divergence, tmp_path: Path) -> None:
    case = divergence.case
    assert isinstance(case, ImageCase)
    path = archive(case, tmp_path)
    assert reference("validate", path).verdict == divergence.reference
    check_ours(case.verdict, path)


@pytest.mark.parametrize("divergence", params(LAYOUT_DIVERGENCES))
def test_layout_divergence(divergence: Divergence, tmp_path: Path) -> None:
    case = divergence.case
    assert isinstance(case, ImageCase)
    path = layout(case, tmp_path)
    assert reference("validate", path).verdict == divergence.reference
    check_ours(case.verdict, path)


# Streams that are not what their first bytes promise.
_TAR = tar_bytes(VALID_IMAGE)
CORRUPT = {
    "gzip-garbage": b"\x1f\x8b" + b"garbage" * 20,
    "bzip2-garbage": b"BZh9" + b"y" * 60,
    "xz-garbage": b"\xfd7zXZ\x00" + b"x" * 50,
    "gzip-truncated": compress(_TAR, "gzip")[:200],
    "xz-truncated-in-tar": compress(_TAR, "xz")[:400],
    "tar-truncated": _TAR[:700],
}


@pytest.mark.parametrize("name", CORRUPT)
def test_corrupt_stream(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.aci"
    path.write_bytes(CORRUPT[name])
    assert reference("validate", path).verdict == "invalid"
    check_ours("invalid", path)


# Every image-manifest case once more, as the manifest of an (uncompressed) archive: the
# verdict must not depend on where the manifest comes from.
IN_ARCHIVE = IMAGE_CASES + ISOLATOR_CASES


@pytest.mark.parametrize("case", params(IN_ARCHIVE))
def test_manifest_case_inside_archive(case: Case, tmp_path: Path) -> None:
    path = write_archive(tmp_path / "image.aci", (manifest_entry(case.content), ROOTFS), "none")
    assert reference("validate", path).verdict == case.verdict
    check_ours(case.verdict, path)


@pytest.mark.parametrize("kind", ["archive", "layout"])
def test_manifest_not_utf8(kind: str, tmp_path: Path) -> None:
    entries = (manifest_entry(BAD_UTF8_MANIFEST), ROOTFS)
    if kind == "archive":
        path = write_archive(tmp_path / "image.aci", entries, "gzip")
    else:
        path = write_layout(tmp_path / "layout", entries)
    assert reference("validate", path).verdict == "valid"  # Go replaces the bytes with U+FFFD
    check_ours("invalid", path)


def test_type_flag_directory_as_appimage(tmp_path: Path) -> None:
    path = write_layout(tmp_path / "layout", VALID_IMAGE)
    assert reference("validate", "--type=appimage", path).returncode == 1
    result = ours("validate", "--type=appimage", path)
    assert result.returncode == 1
    assert_clean_error(result, path)


def test_type_flag_archive_as_manifest(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "image.aci", VALID_IMAGE, "gzip")
    assert reference("validate", "--type=manifest", path).returncode != 0
    result = ours("validate", "--type=manifest", path)
    assert result.returncode != 0
    assert_clean_error(result, path)


# --------------------------------------------------------------------------------------------
# Images built by one tool validate with the other.

BUSYBOX = shutil.which("busybox")


def busybox_layout(root: Path, manifest: Entry = MANIFEST) -> Path:
    """A layout whose rootfs holds busybox (or a small script without it) and some odd files."""
    entries = [
        manifest,
        ROOTFS,
        Entry("rootfs/bin", "dir"),
        Entry("rootfs/etc", "dir"),
        Entry("rootfs/etc/hostname", data=b"box\n"),
        Entry("rootfs/etc/motd", data="héllo <&>\n".encode()),
        Entry("rootfs/var/empty", "dir"),
        Entry("rootfs/bin/sh", "symlink", linkname="busybox"),
        Entry("rootfs/etc/mtab", "symlink", linkname="/proc/self/mounts"),
    ]
    if BUSYBOX is None:
        entries.append(Entry("rootfs/bin/busybox", data=b"#!/bin/false\n"))
    path = write_layout(root, entries)
    if BUSYBOX is not None:
        shutil.copy2(BUSYBOX, path / "rootfs/bin/busybox")
    (path / "rootfs/bin/busybox").chmod(0o755)
    (path / "rootfs/etc/hostname").chmod(0o600)
    return path


def members(path: Path) -> dict[str, tuple[str, int, str, bytes]]:
    """name → (type, mode, link target, content) of each member, names normalized."""
    result = {}
    with tarfile.open(path) as tar:
        for info in tar:
            file = tar.extractfile(info) if info.isfile() else None
            data = file.read() if file is not None else b""
            result[info.name.rstrip("/")] = (info.type.decode(), info.mode, info.linkname, data)
    return result


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The same busybox layout built by the reference and by us, in several compressions."""
    tmp = tmp_path_factory.mktemp("build")
    root = busybox_layout(tmp / "layout", manifest_entry(app(exec=["/bin/sh", "-c", "echo hi"])))
    out = {
        "reference-gzip": tmp / "reference-gzip.aci",
        "reference-none": tmp / "reference-none.aci",
        "ours-gzip": tmp / "ours-gzip.aci",
        "ours-none": tmp / "ours-none.aci",
        "ours-xz": tmp / "ours-xz.aci",
        "ours-bzip2": tmp / "ours-bzip2.aci",
    }
    builds = [
        (reference, ["--owner-root"], out["reference-gzip"]),
        (reference, ["--owner-root", "--no-compression"], out["reference-none"]),
        (ours, [], out["ours-gzip"]),
        (ours, ["--no-compression"], out["ours-none"]),
        (ours, ["--compression=xz"], out["ours-xz"]),
        (ours, ["--compression=bzip2"], out["ours-bzip2"]),
    ]
    for tool, flags, target in builds:
        result = tool("build", *flags, root, target)
        assert result.returncode == 0, result.stderr
        assert "Traceback" not in result.stderr
    return out


@pytest.mark.parametrize(
    "name", ["reference-gzip", "reference-none", "ours-gzip", "ours-none", "ours-xz", "ours-bzip2"]
)
def test_built_image_validates_with_both(built: dict[str, Path], name: str) -> None:
    result = reference("validate", built[name])
    assert result.returncode == 0, result.stderr
    result = ours("validate", built[name])
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""


def test_built_images_hold_the_same_files(built: dict[str, Path]) -> None:
    theirs = members(built["reference-none"])
    mine = members(built["ours-none"])
    # The reference re-encodes the manifest; compare it as data in test_cat_manifest instead.
    theirs.pop("manifest")
    mine.pop("manifest")
    assert mine == theirs


def test_built_images_have_the_same_manifest(built: dict[str, Path]) -> None:
    for flags in ([], ["--pretty-print"]):
        printed = {
            (tool.__name__, name): tool("cat-manifest", *flags, path).stdout
            for name, path in built.items()
            for tool in (reference, ours)
        }
        if flags:
            assert len(set(printed.values())) == 1, printed
        for name in built:
            assert printed[("ours", name)] == printed[("reference", name)]


@pytest.mark.parametrize(
    ("name", "entries"),
    [
        ("missing-manifest", (ROOTFS,)),
        ("missing-rootfs", (MANIFEST,)),
        ("extra-top-level", (MANIFEST, ROOTFS, Entry("notes", data=b""))),
        ("invalid-manifest", (manifest_entry(image(name="Not Valid")), ROOTFS)),
    ],
)
def test_build_refuses_invalid_layout(
    name: str, entries: tuple[Entry, ...], tmp_path: Path
) -> None:
    root = write_layout(tmp_path / name, entries)
    assert reference("build", root, tmp_path / "reference.aci").returncode == 1
    result = ours("build", root, tmp_path / "ours.aci")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert len(result.stderr.splitlines()) == 1
    assert not (tmp_path / "ours.aci").exists()


def test_build_refuses_to_overwrite(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "layout", VALID_IMAGE)
    for tool in (reference, ours):
        target = tmp_path / f"{tool.__name__}.aci"
        target.write_bytes(b"keep")
        result = tool("build", root, target)
        assert result.returncode == 1, tool.__name__
        assert target.read_bytes() == b"keep"
        assert tool("build", "--overwrite", root, target).returncode == 0
        assert ours("validate", target).returncode == 0
        assert reference("validate", target).returncode == 0


def test_build_wants_aci_suffix(tmp_path: Path) -> None:
    root = write_layout(tmp_path / "layout", VALID_IMAGE)
    assert reference("build", root, tmp_path / "image.tar").returncode == 1
    result = ours("build", root, tmp_path / "image.tar")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
