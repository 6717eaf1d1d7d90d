"""Linux- and unix-specific isolators of ace.md: capabilities, seccomp, no-new-privileges,
SELinux context, OOM score adjustment, CPU shares and sysctl."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from appc.errors import ValidationError
from appc.schema.field import boolean, describe, integer, join, lst, obj, required, string
from appc.schema.isolator import IsolatorValue, Reader

CAPABILITIES_RETAIN_SET = "os/linux/capabilities-retain-set"
CAPABILITIES_REMOVE_SET = "os/linux/capabilities-remove-set"
NO_NEW_PRIVILEGES = "os/linux/no-new-privileges"
SECCOMP_RETAIN_SET = "os/linux/seccomp-retain-set"
SECCOMP_REMOVE_SET = "os/linux/seccomp-remove-set"
SELINUX_CONTEXT = "os/linux/selinux-context"
OOM_SCORE_ADJ = "os/linux/oom-score-adj"
CPU_SHARES = "os/linux/cpu-shares"
UNIX_SYSCTL = "os/unix/sysctl"

#: The Linux capabilities, in the order of their numbers (include/uapi/linux/capability.h;
#: CAP_PERFMON and CAP_BPF since Linux 5.8, CAP_CHECKPOINT_RESTORE 5.9): the names the
#: capability isolators take, and rkt.linux's name-to-number table.
CAPABILITY_NAMES: tuple[str, ...] = (
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",  # Linux 5.8
    "CAP_BPF",  # Linux 5.8
    "CAP_CHECKPOINT_RESTORE",  # Linux 5.9
)

#: ace.md's default capability bounding set, used when an app has no capability isolator.
DEFAULT_CAPABILITIES = (
    "CAP_AUDIT_WRITE",
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_KILL",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_NET_BIND_SERVICE",
    "CAP_SETUID",
    "CAP_SETGID",
    "CAP_SETPCAP",
    "CAP_SETFCAP",
    "CAP_SYS_CHROOT",
)

_ERRNO = re.compile(r"E[A-Z0-9]*")


class CapabilitiesSet(IsolatorValue, frozen=True):
    retain: bool
    set: tuple[str, ...]

    def conflicts(self) -> tuple[str, ...]:
        # ace.md: "The retain set cannot be used in conjunction with the remove set."
        return (CAPABILITIES_REMOVE_SET,) if self.retain else (CAPABILITIES_RETAIN_SET,)


class SeccompSet(IsolatorValue, frozen=True):
    retain: bool
    set: tuple[str, ...]
    errno: str
    multiple_allowed: ClassVar[bool] = False

    def conflicts(self) -> tuple[str, ...]:
        return (SECCOMP_REMOVE_SET,) if self.retain else (SECCOMP_RETAIN_SET,)


class NoNewPrivileges(IsolatorValue, frozen=True):
    enabled: bool


class SELinuxContext(IsolatorValue, frozen=True):
    user: str
    role: str
    type: str
    level: str
    multiple_allowed: ClassVar[bool] = False

    def __str__(self) -> str:
        return f"{self.user}:{self.role}:{self.type}:{self.level}"


class OOMScoreAdj(IsolatorValue, frozen=True):
    score: int
    multiple_allowed: ClassVar[bool] = False


class CPUShares(IsolatorValue, frozen=True):
    shares: int
    multiple_allowed: ClassVar[bool] = False


class Sysctl(IsolatorValue, frozen=True):
    values: tuple[tuple[str, str], ...]
    multiple_allowed: ClassVar[bool] = False


def _string_set(doc: Mapping[str, Any], path: str) -> tuple[str, ...]:
    where = join(path, "set")
    items = tuple(
        string(item, join(where, i))
        for i, item in enumerate(lst(required(doc, "set", path), where))
    )
    if not items:
        raise ValidationError("set must not be empty", where)
    return items


def _capabilities(retain: bool) -> Reader:
    def read(value: Any, path: str) -> CapabilitiesSet:
        return CapabilitiesSet(retain, _string_set(obj(value, path), path))

    return read


def _seccomp(retain: bool) -> Reader:
    def read(value: Any, path: str) -> SeccompSet:
        doc = obj(value, path)
        names = _string_set(doc, path)
        errno = string(doc.get("errno") or "", join(path, "errno"))
        if errno and not _ERRNO.fullmatch(errno):
            raise ValidationError(
                f"{describe(errno)} is not valid: expected an upper-case errno name such as EPERM",
                join(path, "errno"),
            )
        return SeccompSet(retain, names, errno)

    return read


def _no_new_privileges(value: Any, path: str) -> NoNewPrivileges:
    return NoNewPrivileges(boolean(value, path))


def _selinux(value: Any, path: str) -> SELinuxContext:
    doc = obj(value, path)
    parts = []
    for key in ("user", "role", "type", "level"):
        text = string(doc.get(key, ""), join(path, key))
        # A context is "user:role:type:level"; only the level (an MLS range) may hold colons.
        if not text or (key != "level" and ":" in text):
            raise ValidationError(
                f"{describe(text)} is not a valid SELinux {key}: expected a non-empty string"
                + (" without ':'" if key != "level" else ""),
                join(path, key),
            )
        parts.append(text)
    return SELinuxContext(*parts)


def _oom_score_adj(value: Any, path: str) -> OOMScoreAdj:
    return OOMScoreAdj(integer(value, path, low=-1000, high=1000))


def _cpu_shares(value: Any, path: str) -> CPUShares:
    # The kernel clamps cpu.shares to [2, 262144]; the reference rejects values outside.
    return CPUShares(integer(value, path, low=2, high=262144))


def _sysctl(value: Any, path: str) -> Sysctl:
    doc = obj(value, path)
    return Sysctl(tuple((key, string(item, join(path, key))) for key, item in doc.items()))


READERS: Mapping[str, Reader] = {
    CAPABILITIES_RETAIN_SET: _capabilities(True),
    CAPABILITIES_REMOVE_SET: _capabilities(False),
    SECCOMP_RETAIN_SET: _seccomp(True),
    SECCOMP_REMOVE_SET: _seccomp(False),
    NO_NEW_PRIVILEGES: _no_new_privileges,
    SELINUX_CONTEXT: _selinux,
    OOM_SCORE_ADJ: _oom_score_adj,
    CPU_SHARES: _cpu_shares,
    UNIX_SYSCTL: _sysctl,
}
