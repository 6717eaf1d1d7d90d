"""Reading image archives: members, manifest and image ID in one forward pass; never writes files.

:class:`ArchiveReader` pulls the uncompressed tar from :mod:`~appc.aci.source` (which hashes it),
parses headers with :mod:`~appc.aci.tarheader`, and checks each member against
:class:`~appc.aci.layout.ArchiveLayout`. The functions below it are the common uses:
:func:`read_manifest` stops at the manifest, :func:`validate_archive` reads everything,
:func:`image_id` only hashes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import IO, TYPE_CHECKING

from msgspec import Struct

from appc.aci import tarheader
from appc.aci.compression import Compression, open_decompressed
from appc.aci.layout import MANIFEST, ArchiveLayout, normalize_name, parse_manifest
from appc.aci.limits import DEFAULT_LIMITS, Limits
from appc.aci.member import Member, MemberType
from appc.aci.source import CHUNK_SIZE, Source
from appc.errors import ArchiveError

if TYPE_CHECKING:
    from appc.schema.image import ImageManifest

#: What the public functions accept: a path, or a binary file object read from its position.
ArchiveSource = str | os.PathLike[str] | IO[bytes]

_SMALL_CHUNK = 64 * 1024
_XATTR_PREFIX = "SCHILY.xattr."


def _text(value: bytes) -> str:
    # Names in tar are bytes; surrogateescape keeps non-UTF-8 ones round-trippable.
    return value.decode("utf-8", "surrogateescape")


def _pax_int(records: dict[str, bytes], key: str, default: int) -> int:
    value = records.get(key)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ArchiveError(f"invalid pax {key} record: {value!r}") from None


class ArchiveReader:
    """A forward-only reader of one image archive.

    Iterate to get each :class:`Member` after it passed the layout checks; call
    :meth:`read_data` or :meth:`copy_data` for a regular member's content before moving on
    (unread content is skipped). The manifest member is read and validated by the reader itself
    (:attr:`manifest`). :meth:`finish` reads to the end and checks that nothing was missing;
    :attr:`image_id` is then available.
    """

    def __init__(
        self,
        fileobj: IO[bytes],
        *,
        name: str = "",
        limits: Limits = DEFAULT_LIMITS,
        hash_name: str | None = "sha512",
        sink: Callable[[memoryview], object] | None = None,
        chunk_size: int = CHUNK_SIZE,
        owns_file: bool = False,
        readahead: bool = False,
        image_layout: bool = True,
    ) -> None:
        self.name = name
        self._file = fileobj if owns_file else None
        self._limits = limits
        # False reads any tar (an OCI layer): no aci.md layout rules, no manifest member,
        # and an empty archive is fine. Names are normalised and checked all the same.
        self._image_layout = image_layout
        with self._errors():
            self.compression: Compression
            self.compression, raw = open_decompressed(
                fileobj, readahead=readahead, any_tar=not image_layout
            )
        self._raw = raw
        self._src = Source(
            raw,
            hash_name=hash_name,
            sink=sink,
            max_size=limits.max_uncompressed_size,
            chunk_size=chunk_size,
        )
        self._layout = ArchiveLayout(limits)
        self._left = 0  # data and padding of the current member not consumed yet
        self._data_left = 0  # data alone
        self._at_manifest = False  # the current member is the manifest, already read
        self._ended = False
        self._finished = False
        self.manifest_bytes: bytes | None = None
        self.manifest: ImageManifest | None = None

    @contextlib.contextmanager
    def _errors(self) -> Iterator[None]:
        """Turn I/O errors into ArchiveError naming the archive (the CLI prints one line)."""
        try:
            yield
        except OSError as err:
            raise ArchiveError(f"cannot read archive: {err.strerror or err}", self.name) from err

    def __iter__(self) -> Iterator[Member]:
        while (member := self.next_member()) is not None:
            yield member

    def next_member(self) -> Member | None:
        """The next member, or ``None`` after the last one."""
        with self._errors():
            return self._next()

    def _next(self) -> Member | None:
        if self._ended:
            return None
        src = self._src
        if self._left:
            src.skip(self._left)
            self._left = self._data_left = 0
        self._at_manifest = False
        pax: dict[str, bytes] = {}
        longname = longlink = None
        pending = False
        extended = 0  # bytes of extended headers for this member, capped as a whole
        while True:
            block = src.read_exact(tarheader.BLOCK_SIZE)
            if block is None or block == tarheader.ZERO_BLOCK:
                if pending:
                    raise ArchiveError("archive ends after an extended header")
                if block is not None:
                    # An archive ends with two zero blocks. As Go's archive/tar does, anything
                    # but a second zero block (or the end of the stream) after the first is an
                    # error rather than entries hidden from readers that stop at the first.
                    after = src.read_exact(tarheader.BLOCK_SIZE)
                    if after is not None and after != tarheader.ZERO_BLOCK:
                        raise ArchiveError("data after the end-of-archive block")
                self._ended = True
                return None
            header = tarheader.parse(block)
            if header.typeflag not in tarheader.META_TYPES:
                break
            extended += header.size
            data = self._read_extended(header, extended)
            pending = True
            if header.typeflag == tarheader.PAX_HEADER:
                pax.update(tarheader.parse_pax(data))
            elif header.typeflag == tarheader.GNU_LONGNAME:
                longname = data.split(b"\0", 1)[0]
            else:
                longlink = data.split(b"\0", 1)[0]
        member = self._member(header, pax, longname, longlink)
        self._data_left = member.size
        self._left = member.size + tarheader.padding(member.size)
        if self._image_layout:
            self._layout.add(member)
            if member.name == MANIFEST:
                self._read_manifest()
        return member

    def _read_extended(self, header: tarheader.RawHeader, total: int) -> bytes:
        if header.typeflag == tarheader.PAX_GLOBAL_HEADER:
            # Go's archive/tar hands a global header to the reference as an entry named like
            # "pax_global_header", which its layout check rejects; the verdict is the same here.
            raise ArchiveError("pax global headers are not supported in image archives")
        limit = self._limits.max_extended_header_size
        if total > limit:
            raise ArchiveError(f"extended headers of {total} bytes; the limit is {limit}")
        data = self._src.read_exact(header.size)
        if data is None and header.size:
            raise ArchiveError("unexpected end of archive")
        self._src.skip(tarheader.padding(header.size))
        return data or b""

    def _member(
        self,
        header: tarheader.RawHeader,
        pax: dict[str, bytes],
        longname: bytes | None,
        longlink: bytes | None,
    ) -> Member:
        raw_name = pax.get("path", longname if longname is not None else header.name)
        raw_link = pax.get("linkpath", longlink if longlink is not None else header.linkname)
        name = normalize_name(_text(raw_name))
        if any(key.startswith("GNU.sparse.") for key in pax):
            raise ArchiveError("sparse files are not supported in image archives", name)
        kind = header.member_type
        linkname = _text(raw_link)
        if kind is MemberType.HARDLINK:
            linkname = normalize_name(linkname)
        mtime: float = header.mtime
        if "mtime" in pax:
            try:
                mtime = float(pax["mtime"])
            except ValueError:
                raise ArchiveError(f"invalid pax mtime record: {pax['mtime']!r}", name) from None
        size = _pax_int(pax, "size", header.size) if kind is MemberType.REGULAR else 0
        if size < 0:
            raise ArchiveError(f"negative size {size} in pax header", name)
        return Member(
            name=name,
            type=kind,
            mode=header.mode & 0o7777,
            uid=_pax_int(pax, "uid", header.uid),
            gid=_pax_int(pax, "gid", header.gid),
            uname=_text(pax.get("uname", header.uname)),
            gname=_text(pax.get("gname", header.gname)),
            mtime=mtime,
            # Only regular files carry data; Go and GNU tar ignore the size field of links,
            # directories and nodes, so a nonzero one must not make us skip bytes.
            size=size,
            linkname=linkname,
            devmajor=header.devmajor,
            devminor=header.devminor,
            xattrs={
                key[len(_XATTR_PREFIX) :]: value
                for key, value in pax.items()
                if key.startswith(_XATTR_PREFIX)
            },
        )

    def _read_manifest(self) -> None:
        size = self._data_left
        data = self._src.read_exact(size) if size else b""
        if data is None:
            raise ArchiveError("unexpected end of archive", MANIFEST)
        self._data_left = 0
        self._left -= size
        self.manifest_bytes = data
        self.manifest = parse_manifest(data)
        self._at_manifest = True

    def read_data(self) -> bytes:
        """The (rest of the) current regular member's content; callers bound the size via
        :attr:`Member.size` before calling."""
        if self._at_manifest and self.manifest_bytes is not None:
            self._at_manifest = False
            return self.manifest_bytes
        size = self._data_left
        with self._errors():
            data = self._src.read_exact(size) if size else b""
        if data is None:
            raise ArchiveError("unexpected end of archive")
        self._data_left = 0
        self._left -= size
        return data

    def copy_data(self, write: Callable[[memoryview], object]) -> None:
        """Pass the current member's content to ``write`` in pieces; each memoryview is valid
        only during the call."""
        if self._at_manifest and self.manifest_bytes is not None:
            self._at_manifest = False
            write(memoryview(self.manifest_bytes))
            return
        size = self._data_left
        with self._errors():
            self._src.copy(size, write)
        self._data_left = 0
        self._left -= size

    def finish(self) -> None:
        """Read to the end of the stream and check that the manifest and rootfs were there."""
        if self._finished:
            return
        with self._errors():
            while self._next() is not None:
                pass
            if self._image_layout:
                self._layout.finish()
            self._src.drain()
        self._finished = True

    @property
    def image_id(self) -> str:
        """``sha512-<hex>`` of the uncompressed tar; reads to the end first."""
        return "sha512-" + self.hexdigest()

    def hexdigest(self) -> str:
        """The hex digest (of the reader's ``hash_name``) of the uncompressed tar; reads to
        the end first."""
        self.finish()
        return self._src.hexdigest()

    def close(self) -> None:
        self._raw.close()  # stops a read-ahead thread; the source file is closed below
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> ArchiveReader:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _open_path(path: str | os.PathLike[str]) -> tuple[IO[bytes], str]:
    name = os.fspath(path)
    try:
        # Unbuffered: the reader reads in large chunks straight into its own buffer.
        return open(name, "rb", buffering=0), name
    except OSError as err:
        raise ArchiveError(f"cannot open archive: {err.strerror}", name) from err


def _reader(
    source: ArchiveSource,
    *,
    limits: Limits = DEFAULT_LIMITS,
    hash_name: str | None = "sha512",
    sink: Callable[[memoryview], object] | None = None,
    chunk_size: int = CHUNK_SIZE,
    readahead: bool = False,
) -> ArchiveReader:
    if not isinstance(source, str | os.PathLike):
        return ArchiveReader(
            source,
            name=str(getattr(source, "name", "<stream>")),
            limits=limits,
            hash_name=hash_name,
            sink=sink,
            chunk_size=chunk_size,
            readahead=readahead,
        )
    fileobj, name = _open_path(source)
    try:
        return ArchiveReader(
            fileobj,
            name=name,
            limits=limits,
            hash_name=hash_name,
            sink=sink,
            chunk_size=chunk_size,
            owns_file=True,
            readahead=readahead,
        )
    except BaseException:
        fileobj.close()
        raise


def open_archive(
    source: ArchiveSource,
    *,
    limits: Limits = DEFAULT_LIMITS,
    sink: Callable[[memoryview], object] | None = None,
    readahead: bool = False,
) -> ArchiveReader:
    """An :class:`ArchiveReader` over a path (opened and closed by the reader) or a binary file
    object (read from its current position, left open). ``sink`` receives every uncompressed
    chunk, e.g. to store the tar while validating it in the same pass. ``readahead``
    decompresses on a helper thread, for callers that do real work per member."""
    return _reader(source, limits=limits, sink=sink, readahead=readahead)


def read_manifest(
    source: ArchiveSource, *, limits: Limits = DEFAULT_LIMITS
) -> tuple[bytes, ImageManifest]:
    """The manifest of an archive, raw and parsed, reading no further than the manifest member.

    Members before it are checked as they pass; those after it are not read at all (use
    :func:`validate_archive` to check the whole archive).
    """
    with _reader(source, limits=limits, hash_name=None, chunk_size=_SMALL_CHUNK) as reader:
        for _member in reader:
            if reader.manifest is not None and reader.manifest_bytes is not None:
                return reader.manifest_bytes, reader.manifest
        reader.finish()  # raises for the missing manifest
    raise AssertionError("unreachable: finish() raises without a manifest")


class ValidationResult(Struct, frozen=True):
    """What :func:`validate_archive` learned in its single pass."""

    image_id: str
    manifest: ImageManifest
    manifest_bytes: bytes
    compression: Compression


def validate_archive(source: ArchiveSource, *, limits: Limits = DEFAULT_LIMITS) -> ValidationResult:
    """Check a whole archive (layout rules, manifest) and compute its image ID in one pass."""
    with _reader(source, limits=limits) as reader:
        image = reader.image_id
        assert reader.manifest is not None and reader.manifest_bytes is not None
        return ValidationResult(image, reader.manifest, reader.manifest_bytes, reader.compression)


def image_id(source: ArchiveSource) -> str:
    """``sha512-<hex>`` of the uncompressed tar (aci.md, "Image ID"), without checking the
    layout: only the hash is computed, as fast as the hash allows."""
    if isinstance(source, str | os.PathLike):
        fileobj, name = _open_path(source)
    else:
        fileobj, name = source, str(getattr(source, "name", "<stream>"))
    try:
        _compression, raw = open_decompressed(fileobj)
        src = Source(raw)
        src.drain()
        return "sha512-" + src.hexdigest()
    except OSError as err:
        raise ArchiveError(f"cannot read archive: {err.strerror or err}", name) from err
    finally:
        if fileobj is not source:
            fileobj.close()
