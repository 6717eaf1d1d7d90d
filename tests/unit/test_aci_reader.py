"""Reading image archives: layout rules, manifest fast path, image IDs, tar dialects."""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

import pytest

from appc.aci import (
    ArchiveReader,
    Limits,
    MemberType,
    image_id,
    open_archive,
    read_manifest,
    validate_archive,
)
from appc.errors import ArchiveError, ValidationError

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}'

Entry = tarfile.TarInfo


def reg(name: str, data: bytes = b"") -> tuple[Entry, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o644
    return info, data


def node(name: str, kind: bytes, linkname: str = "", mode: int = 0o755) -> tuple[Entry, bytes]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    info.mode = mode
    return info, b""


def make_tar(*entries: tuple[Entry, bytes], fmt: int = tarfile.PAX_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for info, data in entries:
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    return out.getvalue()


def valid_entries() -> list[tuple[Entry, bytes]]:
    return [
        reg("manifest", MANIFEST),
        node("rootfs", tarfile.DIRTYPE),
        node("rootfs/etc", tarfile.DIRTYPE),
        reg("rootfs/etc/hostname", b"example\n"),
        node("rootfs/etc/link", tarfile.SYMTYPE, "/etc/hostname", 0o777),
        node("rootfs/etc/hard", tarfile.LNKTYPE, "rootfs/etc/hostname", 0o644),
    ]


def write(tmp_path: Path, data: bytes, name: str = "image.aci") -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def check(tmp_path: Path, *entries: tuple[Entry, bytes], limits: Limits | None = None) -> None:
    path = write(tmp_path, make_tar(*entries))
    if limits is None:
        validate_archive(path)
    else:
        validate_archive(path, limits=limits)


@pytest.mark.parametrize("fmt", [tarfile.USTAR_FORMAT, tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_valid_archive_in_each_tar_dialect(tmp_path: Path, fmt: int) -> None:
    data = make_tar(*valid_entries(), fmt=fmt)
    result = validate_archive(write(tmp_path, data))
    assert result.image_id == "sha512-" + hashlib.sha512(data).hexdigest()
    assert result.manifest_bytes == MANIFEST
    assert str(result.manifest.name) == "example.com/test"


def test_members_and_data(tmp_path: Path) -> None:
    with open_archive(write(tmp_path, make_tar(*valid_entries()))) as reader:
        seen = {}
        for member in reader:
            seen[member.name] = member
            if member.name == "rootfs/etc/hostname":
                assert reader.read_data() == b"example\n"
        assert reader.manifest_bytes == MANIFEST
    assert seen["rootfs/etc/link"].type is MemberType.SYMLINK
    assert seen["rootfs/etc/link"].linkname == "/etc/hostname"
    assert seen["rootfs/etc/hard"].type is MemberType.HARDLINK
    assert seen["rootfs/etc/hard"].linkname == "rootfs/etc/hostname"
    assert seen["rootfs"].is_dir


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
def test_long_names_and_links(tmp_path: Path, fmt: int) -> None:
    long_dir = "rootfs/" + "d" * 150
    long_file = long_dir + "/" + "f" * 180
    entries = [
        *valid_entries(),
        node(long_dir, tarfile.DIRTYPE),
        reg(long_file, b"x" * 1000),
        node("rootfs/s", tarfile.SYMTYPE, "/" + "t" * 300, 0o777),
        node("rootfs/h", tarfile.LNKTYPE, long_file, 0o644),
    ]
    data = make_tar(*entries, fmt=fmt)
    with open_archive(io.BytesIO(data)) as reader:
        members = {m.name: m for m in reader}
        assert reader.image_id == "sha512-" + hashlib.sha512(data).hexdigest()
    assert members[long_file].size == 1000
    assert members["rootfs/s"].linkname == "/" + "t" * 300
    assert members["rootfs/h"].linkname == long_file


def test_pax_records_apply(tmp_path: Path) -> None:
    info, data = reg("rootfs/f", b"abc")
    info.pax_headers = {"SCHILY.xattr.user.k": "v", "uid": "3000000", "mtime": "1.5"}
    info.uname = "ü" * 40
    archive = make_tar(reg("manifest", MANIFEST), node("rootfs", tarfile.DIRTYPE), (info, data))
    with open_archive(io.BytesIO(archive)) as reader:
        member = next(m for m in reader if m.name == "rootfs/f")
    assert member.xattrs == {"user.k": b"v"}
    assert member.uid == 3000000
    assert member.mtime == 1.5
    assert member.uname == "ü" * 40


def test_image_id_is_sha512_of_uncompressed_tar(tmp_path: Path) -> None:
    data = make_tar(*valid_entries()) + bytes(10240)  # trailing record padding counts too
    assert image_id(write(tmp_path, data)) == "sha512-" + hashlib.sha512(data).hexdigest()


def test_read_manifest_stops_at_the_manifest(tmp_path: Path) -> None:
    big = 64 << 20
    info = tarfile.TarInfo("rootfs/big")
    info.size = big
    data = make_tar(reg("manifest", MANIFEST), node("rootfs", tarfile.DIRTYPE))
    # Write the big member's header and a sparse body by hand: no 64 MiB in memory.
    head = data[: 3 * 512]  # manifest header and data, rootfs header; not the end marker
    path = tmp_path / "big.aci"
    with open(path, "wb") as f:
        f.write(head)
        f.write(info.tobuf(tarfile.PAX_FORMAT))
        f.truncate(f.tell() + big)
    with open(path, "rb") as f:
        raw, manifest = read_manifest(f)
        position = f.tell()
    assert raw == MANIFEST
    assert str(manifest.name) == "example.com/test"
    assert position < 1 << 20, f"read {position} bytes to find a first-member manifest"


def test_manifest_after_rootfs_is_found(tmp_path: Path) -> None:
    entries = valid_entries()
    data = make_tar(*entries[1:], entries[0])
    raw, _manifest = read_manifest(write(tmp_path, data))
    assert raw == MANIFEST


@pytest.mark.parametrize(
    ("entries", "member", "words"),
    [
        ([node("etc", tarfile.DIRTYPE)], "etc", "unrecognized path"),
        ([node("rootfs2", tarfile.DIRTYPE)], "rootfs2", "unrecognized path"),
        ([reg("rootfs/etc/hostname", b"again")], "rootfs/etc/hostname", "duplicate"),
        ([reg("./manifest", MANIFEST)], "manifest", "duplicate"),
        ([reg("rootfs/../../etc/passwd")], "rootfs/../../etc/passwd", "'..'"),
        ([reg("/rootfs/abs")], "/rootfs/abs", "absolute"),
        ([node("rootfs/h2", tarfile.LNKTYPE, "manifest", 0o644)], "rootfs/h2", "hard link"),
        ([node("rootfs/h3", tarfile.LNKTYPE, "rootfs/later", 0o644)], "rootfs/h3", "hard link"),
        ([node("rootfs/h4", tarfile.LNKTYPE, "rootfs/etc", 0o644)], "rootfs/h4", "directory"),
    ],
)
def test_layout_violations(
    tmp_path: Path, entries: list[tuple[Entry, bytes]], member: str, words: str
) -> None:
    with pytest.raises(ArchiveError) as caught:
        check(tmp_path, *valid_entries(), *entries)
    assert caught.value.member == member
    assert words in caught.value.message


@pytest.mark.parametrize(
    ("manifest", "words"),
    [
        (node("manifest", tarfile.DIRTYPE), "regular file"),
        (node("manifest", tarfile.SYMTYPE, "rootfs/etc/hostname"), "regular file"),
    ],
)
def test_manifest_must_be_a_regular_file(
    tmp_path: Path, manifest: tuple[Entry, bytes], words: str
) -> None:
    with pytest.raises(ArchiveError, match=words):
        check(tmp_path, manifest, *valid_entries()[1:])


def test_missing_manifest_and_rootfs(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="no image manifest") as caught:
        check(tmp_path, *valid_entries()[1:])
    assert caught.value.member == "manifest"
    with pytest.raises(ArchiveError, match="no rootfs"):
        check(tmp_path, reg("manifest", MANIFEST), reg("rootfs/x"))
    with pytest.raises(ArchiveError, match="no image manifest"):
        read_manifest(write(tmp_path, make_tar(*valid_entries()[1:]), "m.aci"))


def test_rootfs_must_be_a_directory(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="rootfs is not a directory"):
        check(tmp_path, reg("manifest", MANIFEST), reg("rootfs", b""))


def test_oversized_manifest(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="limit") as caught:
        check(tmp_path, *valid_entries(), limits=Limits(max_manifest_size=10))
    assert caught.value.member == "manifest"


def test_oversized_extended_header(tmp_path: Path) -> None:
    info, data = reg("rootfs/" + "n" * 5000)
    with pytest.raises(ArchiveError, match="extended header"):
        check(
            tmp_path, *valid_entries(), (info, data), limits=Limits(max_extended_header_size=1024)
        )


def test_member_count_limit(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="more than 3 entries"):
        check(tmp_path, *valid_entries(), limits=Limits(max_members=3))


def test_uncompressed_size_limit(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match="larger than the limit"):
        check(tmp_path, *valid_entries(), limits=Limits(max_uncompressed_size=1024))


def test_invalid_manifest_is_a_validation_error_at_manifest(tmp_path: Path) -> None:
    entries = [reg("manifest", b'{"acKind":"ImageManifest"}'), *valid_entries()[1:]]
    with pytest.raises(ValidationError) as caught:
        check(tmp_path, *entries)
    assert caught.value.path.startswith("manifest")


def test_pax_global_header_is_rejected(tmp_path: Path) -> None:
    out = io.BytesIO()
    with tarfile.open(
        fileobj=out, mode="w", format=tarfile.PAX_FORMAT, pax_headers={"comment": "x"}
    ) as tar:
        for info, data in valid_entries():
            tar.addfile(info, io.BytesIO(data) if info.isreg() else None)
    with pytest.raises(ArchiveError, match="global"):
        validate_archive(io.BytesIO(out.getvalue()))


def test_truncated_archive(tmp_path: Path) -> None:
    data = make_tar(*valid_entries(), reg("rootfs/big", b"z" * 5000))
    cut = data.index(b"z" * 5000) + 100
    with pytest.raises(ArchiveError, match="unexpected end"):
        validate_archive(write(tmp_path, data[:cut]))


def test_corrupt_header_checksum(tmp_path: Path) -> None:
    data = bytearray(make_tar(*valid_entries()))
    data[512 + 512 + 5] ^= 0xFF  # inside the second header ("rootfs")
    with pytest.raises(ArchiveError, match="checksum"):
        validate_archive(io.BytesIO(bytes(data)))


def test_data_after_end_of_archive_marker(tmp_path: Path) -> None:
    data = make_tar(reg("manifest", MANIFEST), node("rootfs", tarfile.DIRTYPE))
    end = 3 * 512  # manifest header and data, rootfs header
    assert data[end : end + 1024] == bytes(1024)
    hidden = make_tar(reg("rootfs/hidden", b"x"))
    with pytest.raises(ArchiveError, match="after the end-of-archive"):
        validate_archive(io.BytesIO(data[: end + 512] + hidden))


def test_unreadable_path_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError) as caught:
        validate_archive(tmp_path / "missing.aci")
    assert caught.value.member == str(tmp_path / "missing.aci")
    with pytest.raises(ArchiveError, match="cannot open"):
        image_id(tmp_path)


def test_reader_skips_unread_data(tmp_path: Path) -> None:
    data = make_tar(*valid_entries(), reg("rootfs/a", b"A" * 700), reg("rootfs/b", b"B" * 3))
    chunks: list[bytes] = []
    with ArchiveReader(io.BytesIO(data)) as reader:
        names = []
        for member in reader:
            names.append(member.name)
            if member.name == "rootfs/b":
                reader.copy_data(lambda view: chunks.append(bytes(view)))
        reader.finish()
    assert b"".join(chunks) == b"BBB"
    assert names[-2:] == ["rootfs/a", "rootfs/b"]


def test_negative_size_is_rejected() -> None:
    data = bytearray(make_tar(*valid_entries()))
    block = data[1024:1536]  # the "rootfs" header
    block[124:136] = b"\xff" * 12  # size -1 in base-256
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % sum(block)
    data[1024:1536] = block
    with pytest.raises(ArchiveError, match="negative size"):
        validate_archive(io.BytesIO(bytes(data)))
