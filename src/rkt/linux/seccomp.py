"""Seccomp filters through libseccomp (seccomp(2), seccomp_init(3)), via pyseccomp's ctypes binding.

pyseccomp (and with it libseccomp.so) is imported by :func:`build`, not by ``import rkt.linux``:
a process that never builds a filter never loads the library. A filter is built while the host's
filesystem is still reachable and loaded later (``Filter.load``), which only calls into the
already loaded library: after a pivot_root nothing new can be imported.

The filter covers the native architecture only; a call made through another ABI (x32, or int 0x80
on x86_64) hits libseccomp's bad-architecture action, which kills. libseccomp's own
no_new_privs attribute is turned off: whether the process sets no_new_privs is its caller's
decision (seccomp(2) needs it, or CAP_SYS_ADMIN, to load a filter).
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Iterable
from typing import Any

import msgspec

#: libseccomp's SCMP_FLTATR_CTL_NNP.
_ATTR_CTL_NNP = 3
#: seccomp_api_get(3) level from which SCMP_ACT_KILL_PROCESS is supported.
_API_KILL_PROCESS = 3


class SeccompError(OSError):
    """libseccomp missing or refusing a filter."""


class Action(msgspec.Struct, frozen=True):
    """What a rule does: "allow", "kill" (the process, with SIGSYS) or "errno" (fail with
    ``errno``)."""

    kind: str
    errno: int = 0

    @classmethod
    def allow(cls) -> Action:
        return cls("allow")

    @classmethod
    def kill(cls) -> Action:
        return cls("kill")

    @classmethod
    def fail(cls, errno: int) -> Action:
        return cls("errno", errno)


#: The sonames pyseccomp looks up (Linux, glibc), tried as they are before asking ldconfig.
_SONAMES = {"c": "libc.so.6", "seccomp": "libseccomp.so.2"}


def _library() -> Any:
    if "pyseccomp" in sys.modules:
        return sys.modules["pyseccomp"]
    import ctypes
    import types

    # pyseccomp finds libc and libseccomp at import with ctypes.util.find_library, which runs
    # `ldconfig -p` once per name (two processes, about 8 ms), and ctypes.util itself imports
    # subprocess, shutil and tempfile (4 ms more, on every `rkt run`'s way to its app). For
    # that import only, ctypes.util is a stand-in answering with the sonames, which dlopen
    # finds by itself; a soname that is not installed goes to the real lookup. (Swapping a
    # module in sys.modules is safe here: stage1 loads the library before any thread.)
    def find_library(name: str) -> str | None:
        soname = _SONAMES.get(name)
        if soname is not None:
            try:
                ctypes.CDLL(soname)
                return soname
            except OSError:
                pass
        return _real_find_library(name)

    stand_in = types.ModuleType("ctypes.util")
    stand_in.find_library = find_library  # type: ignore[attr-defined]
    real = sys.modules.get("ctypes.util")
    sys.modules["ctypes.util"] = stand_in
    ctypes.util = stand_in  # type: ignore[attr-defined]
    try:
        return importlib.import_module("pyseccomp")
    except (ImportError, RuntimeError, AttributeError) as err:
        # pyseccomp raises RuntimeError when libseccomp.so cannot be found; AttributeError: a
        # pyseccomp that wants more of ctypes.util than the stand-in has.
        raise SeccompError(f"seccomp needs libseccomp and pyseccomp: {err}") from err
    finally:
        if real is not None:
            sys.modules["ctypes.util"] = ctypes.util = real  # type: ignore[attr-defined]
        else:
            del sys.modules["ctypes.util"]
            del ctypes.util  # type: ignore[attr-defined]


def _real_find_library(name: str) -> str | None:
    """ctypes.util.find_library itself, loaded aside from the stand-in of :func:`_library`."""
    stand_in = sys.modules.pop("ctypes.util", None)
    try:
        real = importlib.import_module("ctypes.util")
        return real.find_library(name)  # type: ignore[no-any-return]
    finally:
        if stand_in is not None:
            sys.modules["ctypes.util"] = stand_in


def load_library() -> None:
    """Load libseccomp now (SeccompError without it), so that forked children need not."""
    _library()


def _code(lib: Any, action: Action) -> int:
    if action.kind == "allow":
        return int(lib.ALLOW)
    if action.kind == "errno":
        return int(lib.ERRNO(action.errno))
    if action.kind == "kill":
        try:
            process_kill = int(lib.get_api()) >= _API_KILL_PROCESS
        except NotImplementedError:
            process_kill = False
        # KILL_THREAD kills a single-threaded process just the same; KILL_PROCESS also the
        # other threads of a threaded one.
        return int(lib.KILL_PROCESS if process_kill else lib.KILL)
    raise ValueError(f"unknown seccomp action {action.kind!r}")


class Condition(msgspec.Struct, frozen=True):
    """A rule's condition on one argument of the call: ``(args[arg] & mask) == value``
    (libseccomp's SCMP_CMP_MASKED_EQ). The kernel compares all 64 bits of the register, so a
    mask of 0xFFFFFFFF is how an ``int`` argument is matched whatever its upper half holds
    (the kernel truncates ``int`` and ``unsigned int`` arguments; an exact 64-bit compare could
    be dodged by setting the upper bits)."""

    arg: int
    mask: int
    value: int


#: A rule: a syscall name, its action, and conditions that must all hold (none: always).
Rule = tuple[str, Action] | tuple[str, Action, tuple[Condition, ...]]


class Filter(msgspec.Struct):
    """A built, not yet loaded, filter; ``skipped`` are the names this architecture does not
    have (no rule was added for them)."""

    handle: Any
    skipped: tuple[str, ...]

    def export(self) -> bytes:
        """The filter as the kernel takes it (an array of ``struct sock_filter``), for a
        program that loads it with seccomp(2) itself (rkt-stage1)."""
        fd = os.memfd_create("seccomp-bpf", os.MFD_CLOEXEC)
        with os.fdopen(fd, "w+b") as f:
            try:
                self.handle.export_bpf(f)
            except OSError as err:
                raise SeccompError(err.errno, "cannot export the seccomp filter") from err
            f.seek(0)
            return f.read()

    def load(self) -> None:
        """Install the filter on the calling thread (and what it forks and execs)."""
        try:
            self.handle.load()
        except OSError as err:
            raise SeccompError(
                err.errno, f"cannot load the seccomp filter: {err.strerror}"
            ) from err


class Stack(msgspec.Struct):
    """Filters to load in order. The kernel runs every filter a task has and takes the most
    restrictive action (seccomp(2), "Filter return values"); each load needs no_new_privs or
    CAP_SYS_ADMIN, and the ``seccomp`` call of a later load must pass the earlier filters."""

    filters: tuple[Filter, ...]

    @property
    def skipped(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(name for f in self.filters for name in f.skipped))

    def load(self) -> None:
        for filter_ in self.filters:
            filter_.load()


def build(default: Action, rules: Iterable[Rule]) -> Filter:
    """A filter taking ``default`` for every call but the ``rules`` (syscall name, action, and
    optionally conditions on its arguments). A rule whose action is the default's is dropped
    (libseccomp refuses it). A call with an unconditional rule takes that rule whatever its
    conditional ones say (libseccomp), so conditions only narrow a default: a filter that
    refuses some argument values of a call it otherwise allows has ALLOW as its default."""
    lib = _library()
    default_code = _code(lib, default)
    try:
        handle = lib.SyscallFilter(default_code)
        handle.set_attr(_ATTR_CTL_NNP, 0)
    except OSError as err:
        raise SeccompError(err.errno, f"cannot create a seccomp filter: {err.strerror}") from err
    skipped: list[str] = []
    seen: set[tuple[str, tuple[Condition, ...]]] = set()
    for rule in rules:
        name, action = rule[0], rule[1]
        conditions: tuple[Condition, ...] = rule[2] if len(rule) > 2 else ()
        if (name, conditions) in seen:
            continue
        seen.add((name, conditions))
        number = int(lib.resolve_syscall(lib.Arch.NATIVE, name))
        if number < 0:
            # -1: no such call anywhere; below: a call of other architectures only.
            if name not in skipped:
                skipped.append(name)
            continue
        code = _code(lib, action)
        if code == default_code:
            continue
        args = [lib.Arg(c.arg, lib.MASKED_EQ, c.mask, c.value) for c in conditions]
        try:
            handle.add_rule(code, number, *args)
        except OSError as err:
            raise SeccompError(err.errno, f"cannot add {name} to the seccomp filter") from err
    return Filter(handle, tuple(skipped))


def mode(status: bytes) -> int:
    """The ``Seccomp:`` field of a /proc/PID/status text: 0 none, 1 strict, 2 filter."""
    for line in status.splitlines():
        if line.startswith(b"Seccomp:"):
            return int(line.split(b":", 1)[1])
    return 0
