"""Resolving an app's ``user`` and ``group`` (aci.md "app": user, group) to numbers.

aci.md's order: a value starting with "/" means the owner (or group) of that path inside the
rootfs; otherwise the image's own /etc/passwd or /etc/group is searched by name first, and only
then is an all-numeric value taken as a number (POSIX allows all-numeric names). rkt 1.30 tries
the number first; we follow the spec, which differs only for images with numeric names.

The image's files are parsed here, never through NSS or getpwnam (SECURITY.md 3,
CVE-2019-14271), and read only as size-capped regular files inside the root (rootfs.py).
"""

from __future__ import annotations

import re

import msgspec

from rkt.stage1.planner import rootfs
from rkt.stage1.planner.plan import PlanError

#: Larger account databases are refused: no sane image needs more, and it bounds the work.
MAX_DB_SIZE = 1 << 20
#: The largest id; 2**32-1 is (uid_t)-1, which setuid(2) treats as "no change".
MAX_ID = 2**32 - 2
_NUMBER = re.compile(r"[0-9]+")


class PasswdEntry(msgspec.Struct, frozen=True):
    name: str
    uid: int
    gid: int
    home: str
    shell: str


class GroupEntry(msgspec.Struct, frozen=True):
    name: str
    gid: int
    members: tuple[str, ...]


class Identity(msgspec.Struct, frozen=True):
    """The resolved user and group, with the passwd entry of the uid when the image has one
    (its home, name and shell feed the default environment)."""

    uid: int
    gid: int
    entry: PasswdEntry | None


def _number(text: str) -> int | None:
    if not _NUMBER.fullmatch(text):
        return None
    value = int(text)
    return value if value <= MAX_ID else None


def _lines(data: bytes) -> list[list[str]]:
    # Undecodable bytes become U+FFFD: such a name can never equal a manifest's user, which is
    # valid JSON text, and a parser of hostile input must not raise on encoding.
    text = data.decode("utf-8", errors="replace")
    return [line.split(":") for line in text.split("\n") if line and not line.startswith("#")]


def parse_passwd(data: bytes) -> tuple[PasswdEntry, ...]:
    """Entries of a passwd(5) file; malformed lines are skipped, as glibc's parser does."""
    entries = []
    for fields in _lines(data):
        if len(fields) != 7 or not fields[0]:
            continue
        uid, gid = _number(fields[2]), _number(fields[3])
        if uid is None or gid is None:
            continue
        entries.append(PasswdEntry(fields[0], uid, gid, fields[5], fields[6]))
    return tuple(entries)


def parse_group(data: bytes) -> tuple[GroupEntry, ...]:
    """Entries of a group(5) file; malformed lines are skipped."""
    entries = []
    for fields in _lines(data):
        if len(fields) != 4 or not fields[0]:
            continue
        gid = _number(fields[2])
        if gid is None:
            continue
        members = tuple(m for m in fields[3].split(",") if m)
        entries.append(GroupEntry(fields[0], gid, members))
    return tuple(entries)


def _database(root: str, path: str) -> tuple[bytes | None, str]:
    """The file's bytes, or None and why not (a missing file has no reason)."""
    try:
        return rootfs.read_regular_file(root, path, MAX_DB_SIZE, "account database"), ""
    except PlanError as err:
        return None, str(err)


def _owner(root: str, value: str, what: str) -> tuple[int, int]:
    info = rootfs.lstat(root, value, f"{what} path")
    if info is None:
        raise PlanError(f'{what} "{value}" names a path that does not exist in the image')
    return info.st_uid, info.st_gid


def _unresolved(what: str, value: str, path: str, problem: str) -> PlanError:
    reason = problem or f"no such {what} in the image's {path}"
    return PlanError(
        f'cannot resolve {what} "{value}": {reason}',
        hint=f"use a numeric {'uid' if what == 'user' else 'gid'} or add the {what} to {path}",
    )


def resolve_user(root: str, value: str) -> tuple[int, PasswdEntry | None]:
    """The uid for ``value`` and the image's passwd entry for that uid, if any."""
    data, problem = _database(root, "/etc/passwd")
    entries = parse_passwd(data) if data is not None else ()
    if value.startswith("/"):
        uid = _owner(root, value, "user")[0]
    else:
        by_name = next((e for e in entries if e.name == value), None)
        number = _number(value)
        if by_name is not None:
            uid = by_name.uid
        elif number is not None:
            uid = number
        else:
            raise _unresolved("user", value, "/etc/passwd", problem)
    return uid, next((e for e in entries if e.uid == uid), None)


def resolve_group(root: str, value: str) -> int:
    if value.startswith("/"):
        return _owner(root, value, "group")[1]
    data, problem = _database(root, "/etc/group")
    entries = parse_group(data) if data is not None else ()
    by_name = next((e for e in entries if e.name == value), None)
    if by_name is not None:
        return by_name.gid
    number = _number(value)
    if number is not None:
        return number
    raise _unresolved("group", value, "/etc/group", problem)


def resolve_identity(root: str, user: str, group: str) -> Identity:
    uid, entry = resolve_user(root, user)
    return Identity(uid, resolve_group(root, group), entry)
