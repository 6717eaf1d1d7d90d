"""Tar headers: what we write reads back the same, here and in Python's tarfile; name rules."""

from __future__ import annotations

import io
import tarfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appc.aci import tarheader
from appc.aci.layout import normalize_name
from appc.aci.reader import ArchiveReader
from appc.errors import ArchiveError

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}'

segment = st.binary(min_size=1, max_size=120).filter(
    lambda b: b"/" not in b and b"\0" not in b and b not in (b".", b"..")
)
names = st.lists(segment, min_size=1, max_size=4).map(lambda parts: b"rootfs/" + b"/".join(parts))
ids = st.integers(min_value=0, max_value=2**40)
xattr_keys = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="="),
    min_size=1,
    max_size=20,
).map(lambda key: ("user." + key).encode())


def _decode(value: bytes) -> str:
    return value.decode("utf-8", "surrogateescape")


def archive(*entries: bytes) -> bytes:
    head = tarheader.encode(
        b"manifest", b"0", mode=0o644, uid=0, gid=0, size=len(MANIFEST), mtime=0
    )
    body = MANIFEST + bytes(tarheader.padding(len(MANIFEST)))
    root = tarheader.encode(b"rootfs/", b"5", mode=0o755, uid=0, gid=0, size=0, mtime=0)
    return head + body + root + b"".join(entries) + bytes(1024)


@settings(max_examples=max(150, settings.default.max_examples), deadline=None)
@given(
    name=names,
    link=st.binary(min_size=1, max_size=300).filter(lambda b: b"\0" not in b),
    uid=ids,
    gid=ids,
    mtime=st.integers(min_value=-(2**40), max_value=2**40),
    uname=st.binary(max_size=40).filter(lambda b: b"\0" not in b),
    xattrs=st.dictionaries(xattr_keys, st.binary(max_size=50), max_size=3),
)
def test_encode_reads_back(
    name: bytes,
    link: bytes,
    uid: int,
    gid: int,
    mtime: int,
    uname: bytes,
    xattrs: dict[bytes, bytes],
) -> None:
    entry = tarheader.encode(
        name,
        b"2",
        mode=0o777,
        uid=uid,
        gid=gid,
        size=0,
        mtime=mtime,
        linkname=link,
        uname=uname,
        xattrs=xattrs,
    )
    data = archive(entry)
    with ArchiveReader(io.BytesIO(data)) as reader:
        member = list(reader)[-1]
        reader.finish()
    assert member.name == _decode(name)
    assert member.linkname == _decode(link)
    assert (member.uid, member.gid, member.mtime) == (uid, gid, mtime)
    assert member.uname == _decode(uname)
    assert member.xattrs == {_decode(k): v for k, v in xattrs.items()}
    # Python's tarfile reads the same bytes the same way.
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        info = tar.getmembers()[-1]
    assert (info.uid, info.gid, info.mtime) == (uid, gid, mtime)
    if name.isascii() and link.isascii():
        assert (info.name, info.linkname) == (name.decode(), link.decode())


@pytest.mark.parametrize("size", [0, 1, 511, 512, 513, 8 << 30])
def test_sizes(size: int) -> None:
    header = tarheader.encode(b"rootfs/f", b"0", mode=0o644, uid=0, gid=0, size=size, mtime=0)
    if size <= 0o77777777777:
        assert len(header) == 512
        assert tarheader.parse(header).size == size
    else:
        pax = tarheader.parse(header[:512])
        assert pax.typeflag == tarheader.PAX_HEADER
        records = tarheader.parse_pax(header[512 : 512 + pax.size])
        assert records["size"] == str(size).encode()


def test_base256_numbers_are_read() -> None:
    block = bytearray(
        tarheader.encode(b"rootfs/f", b"0", mode=0o644, uid=0, gid=0, size=0, mtime=0)
    )
    block[108:116] = b"\x80" + (3_000_000_000).to_bytes(7, "big")  # uid, GNU base-256
    block[148:156] = b"        "
    block[148:156] = b"%06o\0 " % sum(block)
    assert tarheader.parse(bytes(block)).uid == 3_000_000_000


@given(st.text(alphabet="ab./", max_size=30))
def test_normalize_name_never_escapes(raw: str) -> None:
    try:
        name = normalize_name(raw)
    except ArchiveError:
        assert raw.startswith("/") or ".." in raw.split("/")
        return
    parts = name.split("/")
    assert ".." not in parts and "" not in parts
    assert name == "." or "." not in parts


@pytest.mark.parametrize(
    ("raw", "normal"),
    [("./rootfs/", "rootfs"), ("rootfs//a/./b", "rootfs/a/b"), ("./", "."), ("", ".")],
)
def test_normalize_name(raw: str, normal: str) -> None:
    assert normalize_name(raw) == normal


@pytest.mark.parametrize("record", [b"5 a=b", b"x a=b\n", b"99 a=b\n", b"6 ab\n\n"])
def test_malformed_pax_records(record: bytes) -> None:
    with pytest.raises(ArchiveError, match="pax"):
        tarheader.parse_pax(record)
