"""An image's /etc/passwd and /etc/group, parsed as ace.md resolves an app's ``user`` and
``group`` names with them (aci.md "app"); never through NSS or getpwnam, whose modules would
run code of the image's choosing (docs/security.md 3, CVE-2019-14271). Shared by the executor's plan
(rkt.stage1.planner.user) and Docker image conversion (rkt.fetch.oci.conversion).
"""

from __future__ import annotations

import re

import msgspec

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


def id_number(text: str) -> int | None:
    """An all-numeric uid or gid within :data:`MAX_ID`; None for anything else."""
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
        uid, gid = id_number(fields[2]), id_number(fields[3])
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
        gid = id_number(fields[2])
        if gid is None:
            continue
        members = tuple(m for m in fields[3].split(",") if m)
        entries.append(GroupEntry(fields[0], gid, members))
    return tuple(entries)
