"""Building image archives from layouts: metadata round trip, atomic output, layout checks."""

from __future__ import annotations

import hashlib
import lzma
import os
import stat
from pathlib import Path

import pytest

import appc.aci.builder
from appc.aci import (
    Compression,
    Member,
    MemberType,
    build,
    open_archive,
    validate_archive,
    validate_layout,
)
from appc.errors import ArchiveError, ValidationError

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}'
MTIME = 1_500_000_000


def make_layout(root: Path) -> Path:
    layout = root / "layout"
    rootfs = layout / "rootfs"
    (rootfs / "bin").mkdir(parents=True)
    (layout / "manifest").write_bytes(MANIFEST)
    tool = rootfs / "bin" / "tool"
    tool.write_bytes(b"#!/bin/sh\necho hi\n")
    tool.chmod(0o4755)
    (rootfs / "tmp").mkdir()
    (rootfs / "tmp").chmod(0o1777)
    (rootfs / "bin" / "alias").hardlink_to(tool)
    (rootfs / "bin" / "sh").symlink_to("/bin/busybox")
    (rootfs / "bin" / "rel").symlink_to("../tmp/nowhere")
    os.mkfifo(rootfs / "fifo")
    for path in [tool, rootfs / "tmp", rootfs / "fifo"]:
        os.utime(path, (MTIME, MTIME))
    return layout


def members(path: Path) -> dict[str, tuple[Member, bytes]]:
    result = {}
    with open_archive(path) as reader:
        for member in reader:
            data = reader.read_data() if member.is_regular else b""
            result[member.name] = (member, data)
    return result


@pytest.mark.parametrize("compression", list(Compression))
def test_round_trip(tmp_path: Path, compression: Compression) -> None:
    layout = make_layout(tmp_path)
    out = tmp_path / "image.aci"
    image = build(layout, out, compression=compression)
    result = validate_archive(out)
    assert result.image_id == image
    assert result.compression is compression
    entries = members(out)
    names = list(entries)
    assert names[0] == "manifest", "the manifest must be the first member"
    assert names == [
        "manifest",
        "rootfs",
        "rootfs/bin",
        "rootfs/bin/alias",
        "rootfs/bin/rel",
        "rootfs/bin/sh",
        "rootfs/bin/tool",
        "rootfs/fifo",
        "rootfs/tmp",
    ]
    alias, data = entries["rootfs/bin/alias"]
    assert alias.type is MemberType.REGULAR  # first path of the inode carries the content
    assert data == b"#!/bin/sh\necho hi\n"
    assert alias.mode == 0o4755
    tool, _ = entries["rootfs/bin/tool"]
    assert tool.type is MemberType.HARDLINK
    assert tool.linkname == "rootfs/bin/alias"
    assert entries["rootfs/bin/sh"][0].linkname == "/bin/busybox"
    assert entries["rootfs/bin/rel"][0].linkname == "../tmp/nowhere"
    assert entries["rootfs/tmp"][0].mode == 0o1777
    assert entries["rootfs/tmp"][0].mtime == MTIME
    assert entries["rootfs/fifo"][0].type is MemberType.FIFO
    assert entries["manifest"][1] == MANIFEST
    st = os.lstat(layout / "rootfs" / "bin" / "tool")
    assert (alias.uid, alias.gid) == (st.st_uid, st.st_gid)


def test_image_id_matches_the_uncompressed_stream(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    image = build(layout, tmp_path / "image.aci", compression="xz")
    tar = lzma.decompress((tmp_path / "image.aci").read_bytes())
    assert image == "sha512-" + hashlib.sha512(tar).hexdigest()


def test_deterministic(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    first = build(layout, tmp_path / "a.aci", compression="gzip")
    second = build(layout, tmp_path / "b.aci", compression="gzip")
    assert first == second
    assert (tmp_path / "a.aci").read_bytes() == (tmp_path / "b.aci").read_bytes()


def test_owner_root(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    build(layout, tmp_path / "image.aci", owner_root=True)
    for member, _ in members(tmp_path / "image.aci").values():
        assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "root", "root")


def test_xattrs_kept(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    target = layout / "rootfs" / "bin" / "alias"
    try:
        os.setxattr(target, "user.rocket", b"\x00binary\xff")
        os.setxattr(layout / "rootfs" / "tmp", "user.dir", b"d")
    except OSError as err:
        pytest.skip(f"the temp filesystem does not support user xattrs: {err.strerror}")
    build(layout, tmp_path / "image.aci")
    entries = members(tmp_path / "image.aci")
    assert entries["rootfs/bin/alias"][0].xattrs["user.rocket"] == b"\x00binary\xff"
    assert entries["rootfs/tmp"][0].xattrs == {"user.dir": b"d"}


@pytest.mark.skipif(os.geteuid() != 0, reason="creating device nodes needs root")
def test_device_nodes(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    os.mknod(layout / "rootfs" / "null", 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    build(layout, tmp_path / "image.aci")
    null = members(tmp_path / "image.aci")["rootfs/null"][0]
    assert (null.type, null.devmajor, null.devminor) == (MemberType.CHAR_DEVICE, 1, 3)


def test_long_and_non_utf8_names(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    deep = layout / "rootfs" / ("d" * 120) / ("e" * 120)
    deep.mkdir(parents=True)
    (deep / ("f" * 200)).write_bytes(b"long")
    odd = os.fsencode(layout / "rootfs") + b"/caf\xe9"
    with open(odd, "wb") as f:
        f.write(b"latin-1 name")
    build(layout, tmp_path / "image.aci")
    entries = members(tmp_path / "image.aci")
    long_name = f"rootfs/{'d' * 120}/{'e' * 120}/{'f' * 200}"
    assert entries[long_name][1] == b"long"
    assert entries[os.fsdecode(b"rootfs/caf\xe9")][1] == b"latin-1 name"


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    out = tmp_path / "image.aci"
    out.write_bytes(b"precious")
    with pytest.raises(ArchiveError, match="exists") as caught:
        build(layout, out)
    assert caught.value.member == str(out)
    assert out.read_bytes() == b"precious"
    build(layout, out, overwrite=True)
    validate_archive(out)


def test_no_temp_file_left_after_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = make_layout(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def explode(self: object) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(appc.aci.builder._TreeArchiver, "archive", explode)
    with pytest.raises(ArchiveError, match="Input/output error"):
        build(layout, out_dir / "image.aci")
    assert list(out_dir.iterdir()) == []


def test_interrupted_build_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    layout = make_layout(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()

    def interrupt(self: object, *args: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(appc.aci.builder._TreeArchiver, "_add_file", interrupt)
    with pytest.raises(KeyboardInterrupt):
        build(layout, out_dir / "image.aci")
    assert list(out_dir.iterdir()) == []


def test_output_inside_rootfs_is_refused(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    with pytest.raises(ArchiveError, match="inside the layout's rootfs"):
        build(layout, layout / "rootfs" / "tmp" / "image.aci")


def test_unknown_compression(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        build(make_layout(tmp_path), tmp_path / "x.aci", compression="zstd")


@pytest.mark.parametrize(
    ("breakage", "words"),
    [
        (lambda layout: (layout / "extra").write_bytes(b""), "unrecognized file"),
        (lambda layout: (layout / "manifest").unlink(), "no image manifest"),
        (lambda layout: (layout / "manifest").write_bytes(bytes(2 << 20)), "limit"),
        (
            lambda layout: (
                (layout / "manifest").unlink(),
                (layout / "manifest").symlink_to("rootfs/bin/tool"),
            ),
            "not a symlink",
        ),
        (
            lambda layout: ((layout / "manifest").unlink(), (layout / "manifest").mkdir()),
            "regular file",
        ),
        (lambda layout: (layout / "rootfs").rename(layout / "gone"), "unrecognized file"),
    ],
)
def test_layout_violations(tmp_path: Path, breakage: object, words: str) -> None:
    layout = make_layout(tmp_path)
    breakage(layout)  # type: ignore[operator]
    with pytest.raises(ArchiveError, match=words):
        validate_layout(layout)
    with pytest.raises(ArchiveError, match=words):
        build(layout, tmp_path / "image.aci")
    assert not (tmp_path / "image.aci").exists()


def test_rootfs_symlink_or_file_is_refused(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    os.rename(layout / "rootfs", tmp_path / "elsewhere")
    (layout / "rootfs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(ArchiveError, match="rootfs is not a directory"):
        validate_layout(layout)
    (layout / "rootfs").unlink()
    (layout / "rootfs").write_bytes(b"")
    with pytest.raises(ArchiveError, match="rootfs is not a directory"):
        validate_layout(layout)
    (layout / "rootfs").unlink()
    with pytest.raises(ArchiveError, match="no rootfs"):
        validate_layout(layout)


def test_invalid_manifest(tmp_path: Path) -> None:
    layout = make_layout(tmp_path)
    (layout / "manifest").write_bytes(b'{"acKind":"ImageManifest","acVersion":"0.8.11"}')
    with pytest.raises(ValidationError) as caught:
        build(layout, tmp_path / "image.aci")
    assert caught.value.path.startswith("manifest")
    assert validate_layout(make_layout(tmp_path / "b")).manifest_bytes == MANIFEST


def test_symlinks_in_layout_are_not_followed(tmp_path: Path) -> None:
    outside = tmp_path / "secret"
    outside.mkdir()
    (outside / "key").write_bytes(b"do not archive")
    layout = make_layout(tmp_path)
    (layout / "rootfs" / "escape").symlink_to(outside)
    build(layout, tmp_path / "image.aci")
    entries = members(tmp_path / "image.aci")
    assert entries["rootfs/escape"][0].type is MemberType.SYMLINK
    assert not any(data == b"do not archive" for _, data in entries.values())


def test_write_errors_name_the_output_and_stop_the_thread() -> None:
    import threading

    from appc.aci.writer import ArchiveWriter

    before = threading.active_count()
    read_fd, write_fd = os.pipe()
    os.close(read_fd)  # writing now fails with EPIPE
    try:
        writer = ArchiveWriter(write_fd, Compression.NONE, name="out.aci")
        with pytest.raises(ArchiveError, match="cannot write the archive") as caught, writer:
            writer.write(bytes(3 << 20))
            writer.close()
        assert caught.value.member == "out.aci"
    finally:
        os.close(write_fd)
    assert threading.active_count() == before
