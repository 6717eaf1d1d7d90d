"""The byte layout of tar headers: parsing (ustar, pax, GNU long names) and writing (ustar + pax).

We parse headers ourselves instead of using :mod:`tarfile` for two reasons. Speed: computing an
image ID must run at the speed of SHA-512, and tarfile's per-member objects and small reads cost
more than the hashing for archives of small files. Control: the reader must see raw names to
reject ``..`` and absolute paths before anything else looks at them, and cap every buffer an
image controls (docs/security.md principle 5).

Formats follow POSIX.1-2001 (ustar and pax ``x`` headers) and the GNU extensions readers meet in
practice: ``L``/``K`` long names and base-256 numbers. What we write is ustar, with a pax header
only for what ustar cannot hold (long names, large ids or sizes, xattrs), which is also what Go's
archive/tar (the reference) and GNU tar in pax mode write.
"""

from __future__ import annotations

import struct

from msgspec import Struct

from appc.aci.member import MemberType
from appc.errors import ArchiveError

BLOCK_SIZE = 512
ZERO_BLOCK = bytes(BLOCK_SIZE)

#: Typeflags of headers that describe the *next* entry instead of being one.
PAX_HEADER = b"x"
PAX_GLOBAL_HEADER = b"g"
GNU_LONGNAME = b"L"
GNU_LONGLINK = b"K"
META_TYPES = frozenset((PAX_HEADER, PAX_GLOBAL_HEADER, GNU_LONGNAME, GNU_LONGLINK))

# "0", NUL (pre-POSIX regular file) and "7" (contiguous file) are all regular files.
_TYPES = {
    b"0": MemberType.REGULAR,
    b"\0": MemberType.REGULAR,
    b"7": MemberType.REGULAR,
    b"1": MemberType.HARDLINK,
    b"2": MemberType.SYMLINK,
    b"3": MemberType.CHAR_DEVICE,
    b"4": MemberType.BLOCK_DEVICE,
    b"5": MemberType.DIRECTORY,
    b"6": MemberType.FIFO,
}

# name mode uid gid size mtime chksum typeflag linkname magic version uname gname devmajor
# devminor prefix (padding)
_USTAR = struct.Struct("100s8s8s8s12s12s8sc100s6s2s32s32s8s8s155s12x")
_USTAR_MAGIC = b"ustar\x00"
_CHKSUM_BLANK = b" " * 8
_MAX_OCTAL_7 = 0o7777777
_MAX_OCTAL_11 = 0o77777777777


def padding(size: int) -> int:
    """Bytes of zero padding after ``size`` bytes of member data."""
    return -size % BLOCK_SIZE


class RawHeader(Struct):
    """The fields of one 512-byte header, before pax or GNU records are applied."""

    name: bytes
    mode: int
    uid: int
    gid: int
    size: int
    mtime: int
    typeflag: bytes
    linkname: bytes
    uname: bytes
    gname: bytes
    devmajor: int
    devminor: int

    @property
    def member_type(self) -> MemberType:
        kind = _TYPES.get(self.typeflag)
        if kind is None:
            # Sparse ("S"), multi-volume ("M"), volume labels ("V") and the like have no place
            # in an image, and POSIX's fallback of treating them as regular files would hide
            # what they are.
            raise ArchiveError(f"unsupported tar entry type {self.typeflag!r}")
        return kind


def _cstr(field: bytes) -> bytes:
    end = field.find(b"\0")
    return field if end < 0 else field[:end]


def _number(field: bytes, what: str) -> int:
    """A numeric header field: NUL/space terminated octal, or GNU base-256 when the top bit of
    the first byte is set (used by GNU tar and Go for values too large for octal)."""
    if field and field[0] & 0x80:
        if field[0] == 0xFF:
            return int.from_bytes(field, "big", signed=True)
        return int.from_bytes(bytes((field[0] & 0x7F,)) + field[1:], "big")
    digits = _cstr(field).strip(b" ")
    if not digits:
        return 0
    try:
        return int(digits, 8)
    except ValueError:
        raise ArchiveError(f"invalid {what} field in tar header: {field!r}") from None


def parse(block: bytes) -> RawHeader:
    """Parse one header block (not the zero block that ends an archive).

    Raises :class:`ArchiveError` when the checksum does not match, which is how garbage is told
    apart from a header.
    """
    (
        name,
        mode,
        uid,
        gid,
        size,
        mtime,
        chksum,
        typeflag,
        linkname,
        magic,
        _version,
        uname,
        gname,
        devmajor,
        devminor,
        prefix,
    ) = _USTAR.unpack(block)
    expected = _number(chksum, "checksum")
    unsigned = sum(block) - sum(chksum) + sum(_CHKSUM_BLANK)
    if expected != unsigned:
        # Some old tars summed signed chars; accept that too, as GNU tar and Go do.
        signed = unsigned - 256 * sum(1 for b in block[:148] + block[156:] if b > 127)
        if expected != signed:
            raise ArchiveError("invalid tar header checksum")
    name = _cstr(name)
    # Only POSIX ustar has the prefix field; GNU's "ustar  " magic uses those bytes for times.
    if magic == _USTAR_MAGIC:
        prefix = _cstr(prefix)
        if prefix:
            name = prefix + b"/" + name
    data_size = _number(size, "size")
    if data_size < 0:
        # Base-256 can encode negative numbers; a negative size would move the reader back.
        raise ArchiveError(f"negative size {data_size} in tar header")
    return RawHeader(
        name=name,
        mode=_number(mode, "mode"),
        uid=_number(uid, "uid"),
        gid=_number(gid, "gid"),
        size=data_size,
        mtime=_number(mtime, "mtime"),
        typeflag=typeflag,
        linkname=_cstr(linkname),
        uname=_cstr(uname),
        gname=_cstr(gname),
        devmajor=_number(devmajor, "devmajor"),
        devminor=_number(devminor, "devminor"),
    )


def parse_pax(data: bytes) -> dict[str, bytes]:
    """The records of a pax extended header: ``"<length> <key>=<value>\\n"`` each.

    Values stay bytes: paths may be raw bytes (``hdrcharset=BINARY``) and xattr values are
    binary.
    """
    records: dict[str, bytes] = {}
    pos = 0
    while pos < len(data):
        space = data.find(b" ", pos, pos + 20)
        try:
            length = int(data[pos:space]) if space > pos else 0
        except ValueError:
            length = 0
        end = pos + length
        if length <= 0 or end > len(data) or data[end - 1 : end] != b"\n":
            raise ArchiveError("malformed pax extended header record")
        key, eq, value = data[space + 1 : end - 1].partition(b"=")
        if not eq or not key:
            raise ArchiveError("malformed pax extended header record")
        records[key.decode("utf-8", "surrogateescape")] = value
        pos = end
    return records


def _pax_record(key: bytes, value: bytes) -> bytes:
    body = b" %s=%s\n" % (key, value)
    # The length counts its own digits, which may carry over to one more digit.
    length = len(body) + len(str(len(body)))
    if len(str(length)) + len(body) != length:
        length += 1
    return b"%d%s" % (length, body)


def _split_ustar_name(name: bytes) -> tuple[bytes, bytes] | None:
    """(prefix, name) for the ustar fields, or None when the name needs a pax record."""
    if len(name) <= 100:
        return b"", name
    if len(name) > 256:
        return None
    # The prefix must end at a slash, be at most 155 bytes, and leave at most 100 bytes after.
    cut = name.rfind(b"/", 0, 156)
    while cut > 0 and len(name) - cut - 1 <= 100:
        if cut <= 155 and cut < len(name) - 1:
            return name[:cut], name[cut + 1 :]
        cut = name.rfind(b"/", 0, cut)
    return None


def _pack(
    name: bytes,
    prefix: bytes,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    typeflag: bytes,
    linkname: bytes,
    uname: bytes,
    gname: bytes,
    devmajor: int,
    devminor: int,
) -> bytes:
    block = _USTAR.pack(
        name,
        b"%07o\0" % mode,
        b"%07o\0" % uid,
        b"%07o\0" % gid,
        b"%011o\0" % size,
        b"%011o\0" % mtime,
        _CHKSUM_BLANK,
        typeflag,
        linkname,
        _USTAR_MAGIC,
        b"00",
        uname,
        gname,
        b"%07o\0" % devmajor,
        b"%07o\0" % devminor,
        prefix,
    )
    return block[:148] + b"%06o\0 " % sum(block) + block[156:]


def encode(
    name: bytes,
    typeflag: bytes,
    *,
    mode: int,
    uid: int,
    gid: int,
    size: int,
    mtime: int,
    linkname: bytes = b"",
    uname: bytes = b"",
    gname: bytes = b"",
    devmajor: int = 0,
    devminor: int = 0,
    xattrs: dict[bytes, bytes] | None = None,
) -> bytes:
    """The header block(s) for one entry: a pax header first when ustar cannot hold a field."""
    pax: list[bytes] = []
    split = _split_ustar_name(name)
    if split is None:
        pax.append(_pax_record(b"path", name))
        prefix, short = b"", name[:100]
    else:
        prefix, short = split
    if len(linkname) > 100:
        pax.append(_pax_record(b"linkpath", linkname))
    if not 0 <= uid <= _MAX_OCTAL_7:
        pax.append(_pax_record(b"uid", b"%d" % uid))
    if not 0 <= gid <= _MAX_OCTAL_7:
        pax.append(_pax_record(b"gid", b"%d" % gid))
    if size > _MAX_OCTAL_11:
        pax.append(_pax_record(b"size", b"%d" % size))
    if not 0 <= mtime <= _MAX_OCTAL_11:
        pax.append(_pax_record(b"mtime", b"%d" % mtime))
    if len(uname) > 32:
        pax.append(_pax_record(b"uname", uname))
    if len(gname) > 32:
        pax.append(_pax_record(b"gname", gname))
    if xattrs:
        for key in sorted(xattrs):
            pax.append(_pax_record(b"SCHILY.xattr." + key, xattrs[key]))
    header = _pack(
        short,
        prefix,
        mode & 0o7777,
        uid if 0 <= uid <= _MAX_OCTAL_7 else 0,
        gid if 0 <= gid <= _MAX_OCTAL_7 else 0,
        size if size <= _MAX_OCTAL_11 else 0,
        mtime if 0 <= mtime <= _MAX_OCTAL_11 else 0,
        typeflag,
        linkname[:100],
        uname[:32],
        gname[:32],
        devmajor,
        devminor,
    )
    if not pax:
        return header
    if not (_is_utf8(name) and _is_utf8(linkname)):
        # pax records are UTF-8 unless declared otherwise; a non-UTF-8 file name is stored as
        # the raw bytes Linux gave us, declared so (POSIX.1-2008, "hdrcharset").
        pax.insert(0, _pax_record(b"hdrcharset", b"BINARY"))
    data = b"".join(pax)
    base = name.rstrip(b"/").rpartition(b"/")[2]
    pax_mtime = min(max(mtime, 0), _MAX_OCTAL_11)
    pax_header = _pack(
        (b"PaxHeaders/" + base)[:100],
        b"",
        0o644,
        0,
        0,
        len(data),
        pax_mtime,
        PAX_HEADER,
        b"",
        b"",
        b"",
        0,
        0,
    )
    return pax_header + data + bytes(padding(len(data))) + header


def _is_utf8(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True
