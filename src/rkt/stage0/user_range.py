"""``--private-users``: the range of host uids and gids a pod's ids are shifted into.

A pod with private users runs in a user namespace that maps its ids 0-65535 onto a block of
65536 host ids of its own, so that root in the pod is an unprivileged, unnamed user on the host.
Blocks are handed out under an flock of the ``pods`` directory: the lowest block that no pod
directory (in any phase, since an exited pod's files keep their owners until gc removes it)
records in its ``private-users-prepared`` file. That file holds ``<first host id>:<count>``,
the form rkt wrote there.

Blocks start at 2^30, far above the ranges /etc/subuid hands to users (100000 and up) and
below 2^32 - 1, which is no valid id.
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
FIRST_BASE = 1 << 30
LAST_BASE = (1 << 32) - 2 * COUNT


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
        base = FIRST_BASE
        while base <= LAST_BASE:
            candidate = UserRange(base)
            clash = [r for r in used if r.overlaps(candidate)]
            if not clash:
                from rkt.stage0.prepare import write_file

                write_file(pod_dir / layout.PRIVATE_USERS_PREPARED, candidate.serialize(), 0o644)
                return candidate
            base = max(r.base + r.count for r in clash)
            base += -base % COUNT  # back onto a block boundary
        raise PodError("--private-users: every range of host ids is held by a pod; run rkt gc")
    finally:
        os.close(fd)  # drops the flock


def shift_tree(root: Path, user_range: UserRange) -> None:
    """Move every owner in the copied tree ``root`` into the range (``--no-overlay``, where no
    idmapped mount can do it): id N becomes ``base + N``. chown(2) clears set-user-ID and
    set-group-ID bits, so they are put back; symbolic links are changed, never followed."""
    entries = (
        os.path.join(directory, name)
        for directory, dirs, files in os.walk(root)
        for name in (*dirs, *files)
    )
    for name in (str(root), *entries):
        info = os.lstat(name)
        if info.st_uid >= user_range.count or info.st_gid >= user_range.count:
            raise PodError(
                f"--private-users: {name} is owned by {info.st_uid}:{info.st_gid}, outside"
                f" the pod's {user_range.count} ids"
            )
        os.lchown(name, user_range.base + info.st_uid, user_range.base + info.st_gid)
        if not os.path.islink(name) and info.st_mode & 0o6000:
            os.chmod(name, info.st_mode & 0o7777)
