"""Capability sets, no_new_privs and seccomp of an app, from its isolators (ace.md "Linux
Isolators").

Capabilities: without a capability isolator the bounding set is ace.md's default 14
(DEFAULT_CAPABILITIES); ``os/linux/capabilities-retain-set`` replaces it and
``os/linux/capabilities-remove-set`` takes names out of it. rkt's ``--caps-retain`` and
``--caps-remove`` arrive here already turned into those isolators by stage0.

The other sets follow what the kernel does at execve(2) without file capabilities: root keeps
its bounding set as permitted and effective; any other uid starts with none. The inheritable
set is always empty: a capability in it survives the execve of a program with inheritable file
capabilities, whatever its uid (GHSA-f3fp-gc8g-vw66, fixed in runc and moby in 2022). Ambient
capabilities are never raised: rkt 1.30 did not, and a non-root app that wants capabilities
should say so with a file capability in its image.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from appc.schema.isolator import Isolator
from appc.schema.linux import (
    CAPABILITIES_REMOVE_SET,
    CAPABILITIES_RETAIN_SET,
    CAPABILITY_NAMES,
    DEFAULT_CAPABILITIES,
    NO_NEW_PRIVILEGES,
    SECCOMP_REMOVE_SET,
    SECCOMP_RETAIN_SET,
    CapabilitiesSet,
    NoNewPrivileges,
    SeccompSet,
)
from rkt.stage1.planner.plan import Capabilities, PlanError, Seccomp

#: capability(7) names in the order of their numbers.
KNOWN_CAPABILITIES = CAPABILITY_NAMES
_ORDER = {name: index for index, name in enumerate(KNOWN_CAPABILITIES)}

#: rkt's seccomp default when an app names no seccomp isolator (Documentation/seccomp-guide.md,
#: stage1/init/common/seccomp.go): the retain set of Docker's default whitelist, blocked calls
#: killing the app with SIGSYS (see rkt.stage1.planner.seccomp_groups).
DEFAULT_SECCOMP = Seccomp("retain", ("@rkt/default-whitelist",), "")


def _names(values: Iterable[str]) -> tuple[str, ...]:
    names = []
    for value in values:
        name = value.upper()
        if not name.startswith("CAP_"):
            name = "CAP_" + name
        if name not in _ORDER:
            raise PlanError(f'unknown capability "{value}"', hint="use a name from capabilities(7)")
        names.append(name)
    return tuple(sorted(set(names), key=_ORDER.__getitem__))


def bounding_set(isolators: Iterable[Isolator]) -> tuple[str, ...]:
    caps = set(_names(DEFAULT_CAPABILITIES))
    for isolator in isolators:
        value = isolator.value
        if not isinstance(value, CapabilitiesSet):
            continue
        if isolator.name == CAPABILITIES_RETAIN_SET:
            caps = set(_names(value.set))
        elif isolator.name == CAPABILITIES_REMOVE_SET:
            caps -= set(_names(value.set))
    return _names(caps)


def runtime_bounding(status: str = "/proc/self/status") -> int:
    """The calling process's bounding set as a bit mask (``CapBnd``); read only, so planning
    stays free of the kernel module."""
    try:
        with open(status, "rb") as f:
            for line in f:
                key, _, value = line.partition(b":")
                if key == b"CapBnd":
                    return int(value.strip(), 16)
    except (OSError, ValueError) as err:
        raise PlanError(f"cannot read the bounding set from {status}: {err}") from err
    raise PlanError(f"no CapBnd line in {status}")


def unrestricted(bounding_mask: int, uid: int) -> Capabilities:
    """``--insecure-options=capabilities``: the bounding set as the runtime has it (a bit mask,
    as /proc/self/status's CapBnd), the capability isolators ignored; root is granted it all."""
    bounding = tuple(name for name in KNOWN_CAPABILITIES if bounding_mask >> _ORDER[name] & 1)
    granted = bounding if uid == 0 else ()
    return Capabilities(bounding, granted, granted, (), ())


def capabilities(isolators: Iterable[Isolator], uid: int) -> Capabilities:
    bounding = bounding_set(isolators)
    granted = bounding if uid == 0 else ()
    return Capabilities(bounding, granted, granted, (), ())


def seccomp(
    isolators: Iterable[Isolator], *, disabled: bool, bounding: tuple[str, ...] = ()
) -> Seccomp | None:
    """The app's filter; None with ``--insecure-options=seccomp``. ``bounding``: the app's
    bounding set; with CAP_SYS_ADMIN in it the app may make namespaces (see
    rkt.stage1.planner.seccomp_groups, "hardening"), as under Docker's default profile."""
    if disabled:
        return None
    namespaces = "CAP_SYS_ADMIN" in bounding
    for isolator in isolators:
        value = isolator.value
        if isinstance(value, SeccompSet) and isolator.name in (
            SECCOMP_RETAIN_SET,
            SECCOMP_REMOVE_SET,
        ):
            mode = "retain" if value.retain else "remove"
            return Seccomp(mode, value.set, value.errno, namespaces=namespaces)
    return msgspec.structs.replace(DEFAULT_SECCOMP, namespaces=namespaces)


def no_new_privs(isolators: Iterable[Isolator], uid: int, filter_: Seccomp | None) -> bool:
    """The isolator's value; forced on for a non-root app with a seccomp filter, because the
    kernel refuses a filter from a task without CAP_SYS_ADMIN unless no_new_privs is set
    (seccomp(2)), which is why rkt's generateSeccompFilter forces it too."""
    enabled = False
    for isolator in isolators:
        if isolator.name == NO_NEW_PRIVILEGES and isinstance(isolator.value, NoNewPrivileges):
            enabled = isolator.value.enabled
    return enabled or (filter_ is not None and uid != 0)
