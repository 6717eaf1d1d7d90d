"""Resolving an app's ``user`` and ``group`` (aci.md "app": user, group) to numbers.

aci.md's order: a value starting with "/" means the owner (or group) of that path inside the
rootfs; otherwise the image's own /etc/passwd or /etc/group is searched by name first, and only
then is an all-numeric value taken as a number (POSIX allows all-numeric names). rkt 1.30 tries
the number first; we follow the spec, which differs only for images with numeric names.

The image's files are parsed here, never through NSS or getpwnam (docs/security.md 3,
CVE-2019-14271), and read only as size-capped regular files inside the root (rootfs.py).
"""

from __future__ import annotations

import msgspec

from appc.accounts import PasswdEntry, id_number, parse_group, parse_passwd
from rkt.stage1.planner import rootfs
from rkt.stage1.planner.plan import PlanError

__all__ = ["Identity", "PasswdEntry", "parse_group", "parse_passwd", "resolve_identity"]

#: Larger account databases are refused: no sane image needs more, and it bounds the work.
MAX_DB_SIZE = 1 << 20


class Identity(msgspec.Struct, frozen=True):
    """The resolved user and group, with the passwd entry of the uid when the image has one
    (its home, name and shell feed the default environment)."""

    uid: int
    gid: int
    entry: PasswdEntry | None


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
        number = id_number(value)
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
    number = id_number(value)
    if number is not None:
        return number
    raise _unresolved("group", value, "/etc/group", problem)


def resolve_identity(root: str, user: str, group: str) -> Identity:
    uid, entry = resolve_user(root, user)
    return Identity(uid, resolve_group(root, group), entry)
