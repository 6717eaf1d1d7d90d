"""Layers applied through the store's extractor (whiteouts, opaque directories, compression,
diff_ids), the archive index of ``oci-archive:``/``docker-archive:``, and the store's
all-or-nothing commit of a staged image."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from appc.aci.member import Member, MemberType
from rkt.errors import FetchError, StoreError
from rkt.fetch.oci.layer import apply_layer
from rkt.fetch.oci.tarindex import TarIndex
from rkt.store.extract import Extractor
from tests import ocikit
from tests.unit.test_store_support import entry, open_store, raw_aci


@pytest.fixture
def tree(tmp_path: Path) -> Iterator[tuple[Extractor, Path]]:
    root = tmp_path / "root"
    root.mkdir()
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    yield Extractor(fd, str(root)), root
    os.close(fd)


def _apply(extractor: Extractor, entries: list[ocikit.Entry], compression: str = "gzip",
           diff_id: str = "") -> None:  # fmt: skip
    data = ocikit.compress(ocikit.tar_bytes(entries), compression)
    apply_layer(extractor, io.BytesIO(data), "layer", diff_id)


def _listing(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*"))


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
def test_layers_whiteouts_and_opaque_directories(
    tree: tuple[Extractor, Path], compression: str
) -> None:
    extractor, root = tree
    _apply(extractor, [ocikit.directory("a"), ocikit.file("a/x", "1"), ocikit.file("a/y", "2"),
                       ocikit.directory("b"), ocikit.file("b/z", "3"), ocikit.file("c", "4"),
                       ocikit.directory("d"), ocikit.file("d/old", "5")], compression)  # fmt: skip
    _apply(extractor, [ocikit.whiteout("a/x"), ocikit.whiteout("b"), ocikit.opaque("d"),
                       ocikit.file("d/new", "6"), ocikit.whiteout("missing/thing"),
                       ocikit.file(".wh..wh.plnk", "aufs"), ocikit.file("c", "7")],
           compression)  # fmt: skip
    extractor.finish()
    assert _listing(root) == ["a", "a/y", "c", "d", "d/new"]
    assert (root / "c").read_text() == "7"


def test_whiteouts_spare_what_their_own_layer_made(tree: tuple[Extractor, Path]) -> None:
    extractor, root = tree
    _apply(extractor, [ocikit.directory("d"), ocikit.file("d/old", "1"), ocikit.file("f", "1")])
    # Out of order, but legal: entries of the same layer stay (image-spec layer.md).
    _apply(extractor, [ocikit.file("d/mine", "2"), ocikit.opaque("d"), ocikit.file("f", "2"),
                       ocikit.whiteout("f")])  # fmt: skip
    assert _listing(root) == ["d", "d/mine", "f"]


def test_whiteout_refusals(tree: tuple[Extractor, Path], tmp_path: Path) -> None:
    extractor, root = tree
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("s")
    _apply(extractor, [ocikit.symlink("link", str(outside)), ocikit.file("file", "x")])
    for entries in ([ocikit.whiteout("link/secret")], [ocikit.opaque("link")],
                    [ocikit.whiteout("file/x")]):  # fmt: skip
        with pytest.raises(FetchError, match="not followed"):
            _apply(extractor, entries)
    with pytest.raises(StoreError, match="root"):
        extractor.remove("")
    _apply(extractor, [ocikit.whiteout("link")])  # the link itself may go
    assert not (root / "link").exists() and (outside / "secret").exists()


def test_empty_layers(tree: tuple[Extractor, Path]) -> None:
    extractor, root = tree
    for data in (b"", bytes(1024), ocikit.compress(bytes(1024), "gzip"),
                 ocikit.compress(b"", "zstd")):  # fmt: skip
        apply_layer(extractor, io.BytesIO(data), "empty")
    assert _listing(root) == []


def test_diff_id_checked(tree: tuple[Extractor, Path]) -> None:
    extractor, _root = tree
    entries = [ocikit.file("f", "x")]
    good = ocikit.sha256(ocikit.tar_bytes(entries))
    _apply(extractor, entries, "zstd", diff_id=good)
    with pytest.raises(FetchError, match="hashes to"):
        _apply(extractor, [ocikit.file("g", "x")], "gzip", diff_id=good)


def test_corrupt_streams(tree: tuple[Extractor, Path]) -> None:
    extractor, _root = tree
    data = ocikit.compress(ocikit.tar_bytes([ocikit.file("f", "x" * 100000)]), "zstd")
    with pytest.raises(FetchError, match="zstd"):
        apply_layer(extractor, io.BytesIO(data[: len(data) // 2]), "layer")
    gz = ocikit.compress(ocikit.tar_bytes([ocikit.file("f", os.urandom(5000).hex())]), "gzip")
    with pytest.raises(FetchError, match="gzip"):
        apply_layer(extractor, io.BytesIO(gz[:-20] + bytes(20)), "layer")
    with pytest.raises(FetchError, match="unknown image format"):
        apply_layer(extractor, io.BytesIO(b"not a tar" * 100), "layer")


# --- archives of blobs ----------------------------------------------------------------------


def test_tar_index(tmp_path: Path) -> None:
    path = tmp_path / "a.tar"
    long_name = "d/" + "n" * 200
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (("./index.json", b"{}"), (long_name, b"long")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for name, target in (("alias", long_name), ("d/up", "../index.json"),
                             ("escape", "../../etc/passwd"), ("abs", "/etc/passwd")):  # fmt: skip
            info = tarfile.TarInfo(name)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
    with TarIndex(str(path)) as index:
        assert index.read("index.json", 10) == b"{}"
        assert index.open("alias").read() == b"long"
        assert index.read("d/up", 10) == b"{}"
        assert not index.has("escape") and not index.has("abs")
        with pytest.raises(FetchError, match="limit"):
            index.read("alias", 2)
    path.write_bytes(path.read_bytes()[:700])
    with pytest.raises(FetchError, match=r"truncated|not a tar"):
        TarIndex(str(path))


# --- the store's commit -----------------------------------------------------------------------


def test_commit_removes_the_image_when_the_tree_cannot_be_committed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import rkt.store.render

    aci = raw_aci(tmp_path / "a.aci", [entry("rootfs/f", data=b"x")])

    def broken(store: object, staged: object) -> None:
        raise StoreError("no space left for the tree")

    monkeypatch.setattr(rkt.store.render, "commit_prerendered", broken)
    with open_store(tmp_path) as store:
        with pytest.raises(StoreError, match="no space"):
            store.import_aci(aci)
        assert store.list() == []
        assert not any(store.datadir.blobs.rglob("sha512-*"))
        assert os.listdir(store.datadir.tmp) == []


def test_image_with_manifest_last_is_rendered_before_commit(tmp_path: Path) -> None:
    """The single pass cannot render an archive whose manifest comes last; it is rendered
    from the staged blob before anything is committed, and refused the same way."""
    path = tmp_path / "late.aci"
    good = raw_aci(tmp_path / "good.aci", [entry("rootfs/link", tarfile.SYMTYPE, linkname="/"),
                                            entry("rootfs/link/x", data=b"x")])  # fmt: skip
    with tarfile.open(good) as source, tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as out:
        members = source.getmembers()
        for info in members[1:] + members[:1]:  # the manifest last
            out.addfile(info, source.extractfile(info) if info.isreg() else None)
    with open_store(tmp_path) as store:
        with pytest.raises(StoreError, match=r"refusing 'link' in .*late\.aci"):
            store.import_aci(path)
        assert store.list() == []
        assert os.listdir(store.datadir.tmp) == []


def test_extractor_remove_keeps_metadata_of_the_rest(tree: tuple[Extractor, Path]) -> None:
    extractor, root = tree
    extractor.add(Member("d", MemberType.DIRECTORY, mode=0o750), lambda write: None)
    extractor.add(Member("d/f", MemberType.REGULAR, size=0), lambda write: None)
    extractor.new_layer()
    extractor.remove("d/f")
    extractor.finish()
    assert os.listdir(root / "d") == [] and (root / "d").stat().st_mode & 0o777 == 0o750


def test_directories_no_member_names_are_the_same_every_time(
    tree: tuple[Extractor, Path],
) -> None:
    """Without a member for it, a directory gets root's 0755 and mtime 0, not the time of
    the last change in it: the converted image (and its ID) must not depend on the clock."""
    extractor, root = tree
    _apply(extractor, [ocikit.file("a/b/f", "x", mtime=1_000_000)])
    _apply(extractor, [ocikit.whiteout("a/b/f"), ocikit.file("a/g", "y")])
    extractor.finish()
    for name in ("a", "a/b"):
        st = (root / name).stat()
        assert (st.st_mtime_ns, st.st_mode & 0o7777) == (0, 0o755)
    assert (root / "a" / "g").stat().st_mtime_ns == 1_600_000_000 * 10**9
