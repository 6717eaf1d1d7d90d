"""Capabilities: names and numbers, the five sets, and reducing them all to a list.

A process has five capability sets (man 7 capabilities): bounding, permitted, effective,
inheritable and ambient. :func:`reduce_to` leaves exactly the given capabilities in each, in the
only order that works: ambient cleared first, the bounding set dropped while CAP_SETPCAP is still
effective, then capset(2), then ambient raised (which needs the capability both permitted and
inheritable, Linux 4.3).
"""

from __future__ import annotations

import ctypes
import errno
from collections.abc import Iterable
from typing import NamedTuple

from appc.schema.linux import CAPABILITY_NAMES
from rkt.linux.process import prctl
from rkt.linux.syscall import check, error, libc

__all__ = [
    "CAPABILITIES",
    "NUMBERS",
    "PR_CAPBSET_DROP",
    "PR_CAPBSET_READ",
    "PR_CAP_AMBIENT",
    "PR_CAP_AMBIENT_CLEAR_ALL",
    "PR_CAP_AMBIENT_RAISE",
    "CapabilitySets",
    "ambient_clear",
    "ambient_raise",
    "bounding_drop",
    "capget",
    "capset",
    "current",
    "last_cap",
    "name_of",
    "parse",
    "reduce_to",
]

#: capability(7) names in number order (appc.schema.linux, which the planning half shares).
CAPABILITIES: tuple[str, ...] = CAPABILITY_NAMES
NUMBERS: dict[str, int] = {name: number for number, name in enumerate(CAPABILITIES)}

# include/uapi/linux/prctl.h
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_IS_SET = 1
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_LOWER = 3
PR_CAP_AMBIENT_CLEAR_ALL = 4

_LINUX_CAPABILITY_VERSION_3 = 0x20080522


class _Header(ctypes.Structure):
    _fields_ = (("version", ctypes.c_uint32), ("pid", ctypes.c_int))


class _Data(ctypes.Structure):
    _fields_ = (
        ("effective", ctypes.c_uint32),
        ("permitted", ctypes.c_uint32),
        ("inheritable", ctypes.c_uint32),
    )


class CapabilitySets(NamedTuple):
    """Sets as bit masks (bit N = capability N), as in /proc/<pid>/status."""

    bounding: int
    permitted: int
    effective: int
    inheritable: int
    ambient: int


def parse(name: str) -> int:
    """The number of a capability named like ``CAP_NET_ADMIN`` (case and prefix optional)."""
    key = name.strip().upper()
    if not key.startswith("CAP_"):
        key = "CAP_" + key
    if key not in NUMBERS:
        raise ValueError(f"unknown capability {name!r}; names look like CAP_NET_ADMIN")
    return NUMBERS[key]


def name_of(number: int) -> str:
    """The kernel's name for capability ``number``."""
    return CAPABILITIES[number] if 0 <= number < len(CAPABILITIES) else f"CAP_{number}"


def mask(numbers: Iterable[int]) -> int:
    """The bit mask of a collection of capability numbers."""
    result = 0
    for number in numbers:
        result |= 1 << number
    return result


def last_cap() -> int:
    """The highest capability this kernel knows (``/proc/sys/kernel/cap_last_cap``, Linux 3.2)."""
    # Binary reads only: after pivot_root the interpreter may not reach its codec modules.
    with open("/proc/sys/kernel/cap_last_cap", "rb") as f:
        return int(f.read())


def current(status: str = "/proc/self/status") -> CapabilitySets:
    """The five sets of the calling thread's process, from ``status``."""
    fields: dict[bytes, int] = {}
    with open(status, "rb") as f:
        for line in f:
            key, _, value = line.partition(b":")
            if key in (b"CapBnd", b"CapPrm", b"CapEff", b"CapInh", b"CapAmb"):
                fields[key] = int(value.strip(), 16)
    return CapabilitySets(
        fields[b"CapBnd"],
        fields[b"CapPrm"],
        fields[b"CapEff"],
        fields[b"CapInh"],
        fields[b"CapAmb"],
    )


def capget() -> tuple[int, int, int]:
    """(effective, permitted, inheritable) of the calling thread, through the v3 struct."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    check(libc().capget(ctypes.byref(header), data), "capget")
    return (
        data[0].effective | data[1].effective << 32,
        data[0].permitted | data[1].permitted << 32,
        data[0].inheritable | data[1].inheritable << 32,
    )


def capset(effective: int, permitted: int, inheritable: int) -> None:
    """Set the calling thread's three capset(2) sets (64 bits each: the v3 struct's two halves)."""
    header = _Header(_LINUX_CAPABILITY_VERSION_3, 0)
    data = (_Data * 2)()
    for i in (0, 1):
        shift = 32 * i
        data[i].effective = (effective >> shift) & 0xFFFFFFFF
        data[i].permitted = (permitted >> shift) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> shift) & 0xFFFFFFFF
    result = libc().capset(ctypes.byref(header), data)
    check(result, "capset", hex(effective), hex(permitted), hex(inheritable))


def bounding_drop(number: int) -> None:
    """Remove a capability from the bounding set (needs CAP_SETPCAP; man 2 prctl)."""
    prctl(PR_CAPBSET_DROP, number, what="PR_CAPBSET_DROP")


def ambient_clear() -> None:
    """Empty the ambient set (Linux 4.3)."""
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, what="PR_CAP_AMBIENT")


def ambient_raise(number: int) -> None:
    """Add a capability to the ambient set; it must be permitted and inheritable already."""
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, number, what="PR_CAP_AMBIENT")


def reduce_to(keep: Iterable[int]) -> None:
    """Leave exactly ``keep`` in all five sets of the calling thread.

    Capabilities this kernel does not know (numbers above ``last_cap()``) are an EINVAL error,
    not silently ignored, so that a pod never believes it holds one it does not.
    """
    numbers = sorted(set(keep))
    top = last_cap()
    unknown = [n for n in numbers if not 0 <= n <= top]
    if unknown:
        raise error("reduce_to", tuple(name_of(n) for n in unknown), errno.EINVAL)
    ambient_clear()
    for number in range(top + 1):
        if number not in numbers:
            bounding_drop(number)
    bits = mask(numbers)
    capset(bits, bits, bits)
    for number in numbers:
        ambient_raise(number)
