"""``--private-users``: the range of host uids and gids a pod's ids are shifted into.

A pod with private users runs in a user namespace that maps its ids 0-65535 onto a block of
65536 host ids of its own, so that root in the pod is an unprivileged, unnamed user on the host.
Blocks are handed out under an flock of the ``pods`` directory: from a random block on, the
first that no pod directory (in any phase, since an exited pod's files keep their owners until
gc removes it) records in its ``private-users-prepared`` file. That file holds
``<first host id>:<count>``, the form rkt wrote there.

The blocks lie in 0x70000000-0x7FFDFFFF: above the ranges /etc/subuid hands to users (100000
and up) and systemd's container ranges (524288-0x6FFFFFFF, systemd's UIDS-GIDS.md), below its
"foreign" range (0x7FFE0000) and below 2^31, from which some software misreads ids as negative.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

import msgspec

from rkt.errors import PodError
from rkt.pod import layout
from rkt.pod.state import Phase

#: ids per pod: every 16-bit id an image can name
COUNT = 1 << 16
FIRST_BASE = 0x70000000
LAST_BASE = 0x7FFE0000 - COUNT


class UserRange(msgspec.Struct, frozen=True):
    base: int
    count: int = COUNT

    def serialize(self) -> bytes:
        return f"{self.base}:{self.count}\n".encode()

    @classmethod
    def parse(cls, text: str, where: str) -> UserRange:
        base, sep, count = text.strip().partition(":")
        if not sep or not base.isdigit() or not count.isdigit() or int(count) == 0:
            raise PodError(f'{where}: expected "<first host id>:<count>", got {text.strip()!r}')
        return cls(int(base), int(count))

    def overlaps(self, other: UserRange) -> bool:
        return self.base < other.base + other.count and other.base < self.base + self.count


def read(pod_dir: Path) -> UserRange | None:
    """The pod's range, or None when it does not use private users."""
    path = pod_dir / layout.PRIVATE_USERS_PREPARED
    try:
        text = path.read_text(encoding="ascii")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as err:
        raise PodError(f"cannot read {path}: {err}") from err
    return UserRange.parse(text, str(path))


def _in_use(pods: Path) -> list[UserRange]:
    used = []
    for phase in Phase:
        directory = layout.phase_dir(pods, phase)
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            continue
        for name in names:
            # A pod being removed or moved right now is skipped or seen in its new phase; both
            # are fine, as its range stays recorded until its directory is gone.
            with contextlib.suppress(OSError, PodError):
                found = read(directory / name)
                if found is not None:
                    used.append(found)
    return used


def allocate(pods: Path, pod_dir: Path) -> UserRange:
    """Give the pod at ``pod_dir`` (locked, being prepared) a block no other pod holds, and
    record it there before anyone else may look (the flock of ``pods`` covers both)."""
    fd = os.open(pods, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        used = _in_use(pods)
        # From a random block on, wrapping around: pods run one after another do not keep
        # getting the same host ids (whose files an earlier pod may have left in a volume).
        blocks = (LAST_BASE - FIRST_BASE) // COUNT + 1
        start = int.from_bytes(os.urandom(4), "little") % blocks
        for step in range(blocks):
            candidate = UserRange(FIRST_BASE + (start + step) % blocks * COUNT)
            if not any(r.overlaps(candidate) for r in used):
                from rkt.atomicfile import write_atomically

                path = pod_dir / layout.PRIVATE_USERS_PREPARED  # the pod directory exists
                write_atomically(path, candidate.serialize(), 0o644)
                return candidate
        raise PodError("--private-users: every range of host ids is held by a pod; run rkt gc")
    finally:
        os.close(fd)  # drops the flock


#: include/uapi/linux/capability.h: file capabilities, v2 (no root id) and v3 (namespaced)
_XATTR_CAPS = "security.capability"
_VFS_CAP_REVISION_2 = 0x02000000
_VFS_CAP_REVISION_3 = 0x03000000
_VFS_CAP_REVISION_MASK = 0xFF000000


def _namespaced_caps(raw: bytes, root: int) -> bytes | None:
    """A v2 ``security.capability`` as v3 with ``root`` as its root id: v2 capabilities count
    only for the host's root, so a shifted file's would be ignored in the pod. None for a
    value this does not know (left as chown left it)."""
    import struct

    if len(raw) != 20:
        return None
    magic, *words = struct.unpack("<5I", raw)
    if magic & _VFS_CAP_REVISION_MASK != _VFS_CAP_REVISION_2:
        return None
    flags = magic & ~_VFS_CAP_REVISION_MASK
    return struct.pack("<6I", _VFS_CAP_REVISION_3 | flags, *words, root)


def shift_tree(root: Path, user_range: UserRange) -> None:
    """Move every owner in the copied tree ``root`` into the range (``--no-overlay``, where no
    idmapped mount can do it): id N becomes ``base + N``. chown(2) clears set-user-ID and
    set-group-ID bits and file capabilities, so they are put back (capabilities for the pod's
    root); symbolic links are changed, never followed; a hard-linked file is shifted once."""
    entries = (
        os.path.join(directory, name)
        for directory, dirs, files in os.walk(root)
        for name in (*dirs, *files)
    )
    seen: set[tuple[int, int]] = set()
    for name in (str(root), *entries):
        info = os.lstat(name)
        if info.st_nlink > 1 and not os.path.isdir(name):
            if (info.st_dev, info.st_ino) in seen:
                continue
            seen.add((info.st_dev, info.st_ino))
        if info.st_uid >= user_range.count or info.st_gid >= user_range.count:
            raise PodError(
                f"--private-users: {name} is owned by {info.st_uid}:{info.st_gid}, outside"
                f" the pod's {user_range.count} ids"
            )
        link = os.path.islink(name)
        caps = None
        if not link:
            try:
                caps = os.getxattr(name, _XATTR_CAPS, follow_symlinks=False)
            except OSError:
                caps = None
        os.lchown(name, user_range.base + info.st_uid, user_range.base + info.st_gid)
        if not link and info.st_mode & 0o6000:
            os.chmod(name, info.st_mode & 0o7777)
        if caps is not None:
            shifted = _namespaced_caps(caps, user_range.base)
            if shifted is not None:
                os.setxattr(name, _XATTR_CAPS, shifted, follow_symlinks=False)
