"""One entry of an image archive, as the reader yields it and the writer describes it."""

from __future__ import annotations

import enum

from msgspec import Struct, field


class MemberType(enum.Enum):
    """The kinds of tar entry an image may contain; values are the tar typeflags."""

    REGULAR = "0"
    HARDLINK = "1"
    SYMLINK = "2"
    CHAR_DEVICE = "3"
    BLOCK_DEVICE = "4"
    DIRECTORY = "5"
    FIFO = "6"


class Member(Struct):
    """A file, directory, link or node in an image archive.

    ``name`` is normalized: no leading ``./``, no trailing ``/``, no empty or ``.`` components,
    and never ``..`` or absolute (the reader rejects those). ``linkname`` is the target of a
    symlink, verbatim (absolute symlinks are legal in images), or the normalized name of an
    earlier member for a hard link. ``size`` is the number of data bytes; it is zero for every
    type but :attr:`MemberType.REGULAR`. ``xattrs`` come from pax ``SCHILY.xattr.*`` records.
    """

    name: str
    type: MemberType
    mode: int = 0o644
    uid: int = 0
    gid: int = 0
    uname: str = ""
    gname: str = ""
    mtime: float = 0
    size: int = 0
    linkname: str = ""
    devmajor: int = 0
    devminor: int = 0
    xattrs: dict[str, bytes] = field(default_factory=dict)

    @property
    def is_regular(self) -> bool:
        return self.type is MemberType.REGULAR

    @property
    def is_dir(self) -> bool:
        return self.type is MemberType.DIRECTORY
