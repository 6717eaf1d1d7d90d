"""The calling process: prctl(2) switches, hostname, ids, signal dispositions and file
descriptors.

These are the last steps before exec'ing an app: no_new_privs (so setuid files and file
capabilities cannot regain what was dropped), not dumpable (so the pod cannot open
``/proc/<pid>/exe`` of a runtime process that joins it: runc CVE-2019-5736), and no fd but the
app's own left open (runc CVE-2024-21626).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import os
import signal
import time
from collections.abc import Iterable

from rkt.linux.syscall import check, libc, syscall_number

__all__ = [
    "CLOSE_RANGE_CLOEXEC",
    "MFD_EXEC",
    "PR_GET_DUMPABLE",
    "PR_GET_NO_NEW_PRIVS",
    "PR_SET_CHILD_SUBREAPER",
    "PR_SET_DUMPABLE",
    "PR_SET_KEEPCAPS",
    "PR_SET_NO_NEW_PRIVS",
    "PR_SET_PDEATHSIG",
    "Ids",
    "close_fds",
    "get_dumpable",
    "get_no_new_privs",
    "prctl",
    "reset_signals",
    "sealed_copy",
    "set_child_subreaper",
    "set_cloexec_from",
    "set_dumpable",
    "set_ids",
    "set_keepcaps",
    "set_no_new_privs",
    "set_pdeathsig",
    "sethostname",
]

# include/uapi/linux/prctl.h
PR_SET_PDEATHSIG = 1
PR_GET_DUMPABLE = 3
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_SET_CHILD_SUBREAPER = 36  # Linux 3.4
PR_SET_NO_NEW_PRIVS = 38  # Linux 3.5
PR_GET_NO_NEW_PRIVS = 39

# include/uapi/linux/close_range.h (Linux 5.11)
CLOSE_RANGE_CLOEXEC = 1 << 2


def prctl(option: int, arg2: int = 0, arg3: int = 0, *, what: str = "") -> int:
    """prctl(2) with unused arguments zero (several options return EINVAL otherwise)."""
    zero = ctypes.c_ulong(0)
    result = libc().prctl(option, ctypes.c_ulong(arg2), ctypes.c_ulong(arg3), zero, zero)
    return check(result, f"prctl({what or option})", arg2, arg3)


def set_no_new_privs() -> None:
    """From now on execve(2) grants nothing (setuid, file caps); it cannot be undone."""
    prctl(PR_SET_NO_NEW_PRIVS, 1, what="PR_SET_NO_NEW_PRIVS")


def get_no_new_privs() -> bool:
    return prctl(PR_GET_NO_NEW_PRIVS, what="PR_GET_NO_NEW_PRIVS") == 1


def set_dumpable(dumpable: bool) -> None:
    """Not dumpable also makes /proc/<pid>/ owned by root and ptrace-proof (man 5 proc)."""
    prctl(PR_SET_DUMPABLE, int(dumpable), what="PR_SET_DUMPABLE")


def get_dumpable() -> bool:
    return prctl(PR_GET_DUMPABLE, what="PR_GET_DUMPABLE") == 1


def set_pdeathsig(signum: int = signal.SIGKILL) -> None:
    """Get ``signum`` when the parent thread dies; cleared by fork, and by exec of setuid files."""
    prctl(PR_SET_PDEATHSIG, signum, what="PR_SET_PDEATHSIG")


def set_child_subreaper(on: bool = True) -> None:
    """Orphaned descendants are re-parented to this process instead of to init."""
    prctl(PR_SET_CHILD_SUBREAPER, int(on), what="PR_SET_CHILD_SUBREAPER")


def sethostname(name: str) -> None:
    """sethostname(2) in the caller's UTS namespace."""
    raw = name.encode()
    check(libc().sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname", name)


#: A real, an effective and a saved id, as setresuid(2) and setresgid(2) take them.
Ids = tuple[int, int, int]


def set_ids(uids: Ids, gids: Ids, groups: Iterable[int] = ()) -> None:
    """Become ``uids``/``gids`` with exactly ``groups``: groups, then gids, then uids, because
    after the uid changes there is no CAP_SETGID left to change the others (man 2 setresuid).
    """
    os.setgroups(list(groups))
    os.setresgid(*gids)
    os.setresuid(*uids)


def set_keepcaps(keep: bool) -> None:
    """Whether the permitted set survives a change that leaves no uid 0 among the real,
    effective and saved uids (man 7 capabilities, "Effect of user ID changes on capabilities");
    the effective set is emptied all the same, and execve(2) clears the flag."""
    prctl(PR_SET_KEEPCAPS, int(keep), what="PR_SET_KEEPCAPS")


def reset_signals(signums: Iterable[int], *, unblock: bool) -> None:
    """Default dispositions for ``signums`` (Python sets handlers or SIG_IGN for some, which
    execve(2) would pass on as ignored), and with ``unblock`` an empty signal mask: what a
    program exec'ed from here starts with."""
    for signum in signums:
        signal.signal(signum, signal.SIG_DFL)
    if unblock:
        signal.pthread_sigmask(signal.SIG_SETMASK, [])


def close_fds(keep: Iterable[int] = (0, 1, 2)) -> None:
    """Close every fd except those in ``keep``.

    ``os.closerange`` uses close_range(2) where the kernel has it (Linux 5.9) and falls back to
    closing one by one, so the gaps between kept fds are closed in a few calls.
    """
    low = 0
    for fd in sorted(set(keep)):
        if fd > low:
            os.closerange(low, fd)
        low = max(low, fd + 1)
    os.closerange(low, _fd_limit())


def set_cloexec_from(low: int = 3) -> None:
    """Mark every fd from ``low`` up close-on-exec, leaving them usable until exec."""
    number = _close_range_number()
    if number is not None:
        result = libc().syscall(
            ctypes.c_long(number),
            ctypes.c_uint(low),
            ctypes.c_uint(0xFFFFFFFF),
            ctypes.c_uint(CLOSE_RANGE_CLOEXEC),
        )
        if result == 0:
            return
    # Kernels before 5.11 reject CLOSE_RANGE_CLOEXEC with EINVAL: walk /proc/self/fd instead.
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd >= low:
            # The fd that listdir itself used is closed by now.
            with contextlib.suppress(OSError):
                os.set_inheritable(fd, False)


def _close_range_number() -> int | None:
    try:
        return syscall_number("close_range")
    except OSError:
        return None


def _fd_limit() -> int:
    soft = os.sysconf("SC_OPEN_MAX")
    return soft if soft > 0 else 1 << 20


#: memfd_create(2)'s MFD_EXEC (Linux 6.3): executable whatever vm.memfd_noexec says; older
#: kernels refuse the flag (EINVAL) and make every memfd executable.
MFD_EXEC = 0x0010
#: Every seal: the copy can never be written, grown, shrunk or unsealed (memfd_create(2)).
_SEALS = 0x0001 | 0x0002 | 0x0004 | 0x0008  # F_SEAL_SEAL, _SHRINK, _GROW, _WRITE
#: F_SEAL_WRITE fails with EBUSY while a page of the file still has an extra reference (the
#: copy's own pages, briefly, on a loaded host); the kernel waits a little, we try again.
_SEAL_ATTEMPTS = 5


def sealed_copy(path: str, name: str) -> int:
    """A close-on-exec memfd holding a copy of the file at ``path``, sealed against every
    change, to exec instead of the file (runc's answer to CVE-2019-5736): a process that runs
    in a pod's namespaces shows the pod that copy as ``/proc/<pid>/exe``, never a host file
    the pod could open and rewrite once the process is gone (docs/security.md 9)."""
    flags = os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING
    try:
        fd = os.memfd_create(name, flags | MFD_EXEC)
    except OSError as err:
        if err.errno != errno.EINVAL:
            raise
        fd = os.memfd_create(name, flags)
    try:
        source = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        try:
            size = os.fstat(source).st_size
            offset = 0
            while offset < size:
                sent = os.sendfile(fd, source, offset, size - offset)
                if sent == 0:
                    raise OSError(errno.EIO, f"{path} shrank while it was copied")
                offset += sent
        finally:
            os.close(source)
        _add_seals(fd)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _add_seals(fd: int) -> None:
    for attempt in range(_SEAL_ATTEMPTS):
        try:
            fcntl.fcntl(fd, fcntl.F_ADD_SEALS, _SEALS)
            return
        except OSError as err:
            if err.errno != errno.EBUSY or attempt == _SEAL_ATTEMPTS - 1:
                raise
        time.sleep(0.01 * 2**attempt)
