"""``actool cat-manifest``: the same bytes from both tools, plain and ``--pretty-print``."""

from __future__ import annotations

from pathlib import Path

import pytest

from .cases import (
    BAD_UTF8_MANIFEST,
    CAT_MANIFESTS,
    MANIFEST,
    ROOTFS,
    ROOTFS_FILES,
    Entry,
    image,
    manifest_entry,
)
from .harness import ours, reference, write_archive

FLAGS = {"plain": (), "pretty": ("--pretty-print",)}


def build(tmp_path: Path, content: bytes, compression: str = "gzip") -> Path:
    entries = (ROOTFS, *ROOTFS_FILES, manifest_entry(content))
    return write_archive(tmp_path / "image.aci", entries, compression)


def _params() -> list[object]:
    result = []
    for name in CAT_MANIFESTS:
        for mode, flags in FLAGS.items():
            result.append(pytest.param(name, flags, id=f"{name}-{mode}"))
    return result


@pytest.mark.parametrize(("name", "flags"), _params())
def test_same_output(name: str, flags: tuple[str, ...], tmp_path: Path) -> None:
    path = build(tmp_path, CAT_MANIFESTS[name])
    theirs = reference("cat-manifest", *flags, path)
    assert theirs.returncode == 0, theirs.stderr
    mine = ours("cat-manifest", *flags, path)
    assert mine.returncode == 0, mine.stderr
    assert mine.stderr == ""
    assert mine.stdout == theirs.stdout


@pytest.mark.parametrize("compression", ["none", "bzip2", "xz"])
def test_same_output_any_compression(compression: str, tmp_path: Path) -> None:
    path = build(tmp_path, CAT_MANIFESTS["all-isolators"], compression)
    for flags in FLAGS.values():
        theirs = reference("cat-manifest", *flags, path)
        assert theirs.returncode == 0, theirs.stderr
        assert ours("cat-manifest", *flags, path).stdout == theirs.stdout


def test_manifest_after_rootfs(tmp_path: Path) -> None:
    path = write_archive(tmp_path / "image.aci", (ROOTFS, *ROOTFS_FILES, MANIFEST), "none")
    for flags in FLAGS.values():
        assert (
            ours("cat-manifest", *flags, path).stdout
            == reference("cat-manifest", *flags, path).stdout
        )


@pytest.mark.parametrize("flags", FLAGS.values(), ids=FLAGS.keys())
def test_invalid_manifest_fails_in_both(flags: tuple[str, ...], tmp_path: Path) -> None:
    path = write_archive(
        tmp_path / "bad.aci", (manifest_entry(image(name="Not Valid")), ROOTFS), "gzip"
    )
    assert reference("cat-manifest", *flags, path).returncode == 1
    mine = ours("cat-manifest", *flags, path)
    assert mine.returncode == 1
    assert "Traceback" not in mine.stderr
    assert len(mine.stderr.splitlines()) == 1
    assert str(path) in mine.stderr
    # Documented divergence (appc/actool/cat_manifest.py): the reference prints the stored
    # bytes before it checks them; we print nothing for an invalid manifest.
    assert mine.stdout == b""


def test_missing_manifest(tmp_path: Path) -> None:
    """aci.md: "Image manifests MUST be valid JSON located in the file manifest in the root of
    the image archive." The reference prints nothing and exits 0; we report the error."""
    path = write_archive(tmp_path / "image.aci", (ROOTFS, Entry("rootfs/a", data=b"")), "gzip")
    theirs = reference("cat-manifest", path)
    assert (theirs.returncode, theirs.stdout) == (0, b"")
    mine = ours("cat-manifest", path)
    assert mine.returncode == 1
    assert "Traceback" not in mine.stderr
    assert len(mine.stderr.splitlines()) == 1


@pytest.mark.parametrize("content", [b"", b"not an archive at all\n"], ids=["empty", "text"])
def test_not_an_archive(content: bytes, tmp_path: Path) -> None:
    path = tmp_path / "image.aci"
    path.write_bytes(content)
    assert reference("cat-manifest", path).returncode == 1
    mine = ours("cat-manifest", path)
    assert mine.returncode == 1
    assert "Traceback" not in mine.stderr


def test_manifest_not_utf8(tmp_path: Path) -> None:
    path = build(tmp_path, BAD_UTF8_MANIFEST)
    mine = ours("cat-manifest", path)
    assert "Traceback" not in mine.stderr
    assert mine.returncode == 1
