"""Compression: detection by magic bytes, streaming decompression, corrupt and odd streams."""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import lzma
import os
import tarfile
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from appc.aci import Compression, detect, image_id, is_tar, read_manifest, validate_archive
from appc.errors import ArchiveError

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/test"}'

COMPRESSORS: dict[Compression, Callable[[bytes], bytes]] = {
    Compression.NONE: lambda data: data,
    Compression.GZIP: gzip.compress,
    Compression.BZIP2: bz2.compress,
    Compression.XZ: lzma.compress,
}
# Each compression under a name that suggests another one.
MISLEADING = {
    Compression.NONE: "image.tar.gz",
    Compression.GZIP: "image.tar.xz",
    Compression.BZIP2: "image.tgz",
    Compression.XZ: "image.tar.bz2",
}


def image_tar(extra: bytes = b"") -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo("manifest")
        info.size = len(MANIFEST)
        tar.addfile(info, io.BytesIO(MANIFEST))
        rootfs = tarfile.TarInfo("rootfs")
        rootfs.type = tarfile.DIRTYPE
        tar.addfile(rootfs)
        blob = tarfile.TarInfo("rootfs/blob")
        data = extra or os.urandom(300_000)
        blob.size = len(data)
        tar.addfile(blob, io.BytesIO(data))
    return out.getvalue()


@pytest.mark.parametrize("compression", list(Compression))
def test_detected_by_magic_not_name(tmp_path: Path, compression: Compression) -> None:
    tar = image_tar()
    path = tmp_path / MISLEADING[compression]
    path.write_bytes(COMPRESSORS[compression](tar))
    result = validate_archive(path)
    assert result.compression is compression
    assert result.image_id == "sha512-" + hashlib.sha512(tar).hexdigest()
    assert image_id(path) == result.image_id
    assert read_manifest(path)[0] == MANIFEST


def test_detect_and_is_tar() -> None:
    tar = image_tar()
    assert detect(tar[:512]) is Compression.NONE
    assert is_tar(tar[:512])
    assert detect(b'{"acKind": "ImageManifest"}') is Compression.NONE
    assert not is_tar(b'{"acKind": "ImageManifest"}')
    assert detect(gzip.compress(b"x")) is Compression.GZIP


@pytest.mark.parametrize("content", [b"", b"hello", b'{"acKind":"ImageManifest"}', bytes(4096)])
def test_unknown_format(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "x.aci"
    path.write_bytes(content)
    with pytest.raises(ArchiveError, match="unknown image format"):
        validate_archive(path)
    with pytest.raises(ArchiveError, match="unknown image format"):
        image_id(path)


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.BZIP2, Compression.XZ])
def test_concatenated_streams_decode_as_one(compression: Compression) -> None:
    tar = image_tar()
    compress = COMPRESSORS[compression]
    data = compress(tar[:1000]) + compress(tar[1000:])
    assert validate_archive(io.BytesIO(data)).image_id == (
        "sha512-" + hashlib.sha512(tar).hexdigest()
    )


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.BZIP2, Compression.XZ])
def test_truncated_stream(compression: Compression) -> None:
    data = COMPRESSORS[compression](image_tar())
    with pytest.raises(ArchiveError, match=r"truncated|unexpected end"):
        validate_archive(io.BytesIO(data[: len(data) - 20]))


@pytest.mark.parametrize("compression", [Compression.GZIP, Compression.BZIP2, Compression.XZ])
def test_corrupt_stream(compression: Compression) -> None:
    data = bytearray(COMPRESSORS[compression](image_tar()))
    middle = len(data) // 2
    data[middle : middle + 16] = bytes(16)
    with pytest.raises(ArchiveError):
        validate_archive(io.BytesIO(bytes(data)))


def test_gzip_crc_is_checked() -> None:
    data = bytearray(gzip.compress(image_tar()))
    data[-8] ^= 0xFF  # the CRC-32 in the trailer
    with pytest.raises(ArchiveError, match="corrupt gzip"):
        image_id(io.BytesIO(bytes(data)))


def test_trailing_garbage_after_gzip() -> None:
    data = gzip.compress(image_tar()) + b"garbage!"
    with pytest.raises(ArchiveError):
        image_id(io.BytesIO(data))


def test_highly_compressed_input_streams_in_bounded_pieces() -> None:
    # 64 MiB of zeros compress to ~64 KiB; reading must not inflate it in one piece.
    tar = image_tar(extra=bytes(64 << 20))
    data = gzip.compress(tar, compresslevel=1)
    assert image_id(io.BytesIO(data)) == "sha512-" + hashlib.sha512(tar).hexdigest()


def test_reads_from_a_pipe_without_seeking() -> None:
    data = COMPRESSORS[Compression.XZ](image_tar())
    read_fd, write_fd = os.pipe()

    def feed() -> None:
        with open(write_fd, "wb") as w:
            w.write(data)

    thread = threading.Thread(target=feed)
    thread.start()
    with open(read_fd, "rb") as r:
        result = validate_archive(r)
    thread.join()
    assert result.compression is Compression.XZ


@pytest.mark.parametrize("compression", [c for c in Compression if c is not Compression.NONE])
def test_readahead_reads_the_same_and_reports_errors(compression: Compression) -> None:
    from appc.aci import open_archive

    data = image_tar(os.urandom(3 << 20))
    packed = COMPRESSORS[compression](data)
    threads = threading.active_count()
    with open_archive(io.BytesIO(packed), readahead=True) as reader:
        names = [member.name for member in reader]
        assert reader.image_id == "sha512-" + hashlib.sha512(data).hexdigest()
    assert "rootfs/blob" in names
    # Stopped early: closing the reader ends the helper thread.
    with open_archive(io.BytesIO(packed), readahead=True) as reader:
        next(iter(reader))
    # Corrupt input: the decoder's error reaches the reader's thread as an ArchiveError.
    broken = packed[: len(packed) // 2] + bytes(64) + packed[len(packed) // 2 + 64 :]
    with pytest.raises(ArchiveError), open_archive(io.BytesIO(broken), readahead=True) as reader:
        reader.finish()
    assert threading.active_count() == threads
