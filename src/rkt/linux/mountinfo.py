"""Reading /proc/self/mountinfo (proc(5)): the mount points, with the kernel's escapes decoded.

Standard library only, unlike the rest of ``rkt.linux``: gc, status and the cgroup layout read
mounts without loading ctypes.
"""

from __future__ import annotations

__all__ = ["MOUNTINFO", "mount_points", "unescape"]

MOUNTINFO = "/proc/self/mountinfo"


def unescape(field: str) -> str:
    """A mountinfo field as it is: the kernel writes space, tab, newline and backslash as
    ``\\ooo`` (fs/proc_namespace.c)."""
    out = []
    i = 0
    while i < len(field):
        if field[i] == "\\" and field[i + 1 : i + 4].isdigit():
            out.append(chr(int(field[i + 1 : i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def mount_points(mountinfo: str = MOUNTINFO) -> list[str]:
    """Mount points in the order of mountinfo (parents before the mounts on top of them)."""
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        return [unescape(fields[4]) for line in f if len(fields := line.split(" ")) > 4]
