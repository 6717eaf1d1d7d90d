"""``os/unix/sysctl`` (ace.md): which sysctls a pod may set, checked at plan time (pure).

Only sysctls the kernel keeps per namespace are allowed, and only when the pod has that
namespace of its own (runc's list, libcontainer/configs/validate): ``net.*`` in the pod's
network namespace (refused with ``--net=host``), the System V IPC limits and ``fs.mqueue.*`` in
its IPC namespace, ``kernel.domainname`` in its UTS namespace. ``kernel.hostname`` is refused
as runc refuses it: it would contradict the pod's hostname (``--hostname``). Anything else
(``vm.swappiness``, ``kernel.panic``, ...) would change the host and is refused, as ace.md
allows ("MUST either ignore forbidden parameters or refuse to run the pod").

The sysctls of every app and of the pod apply to the pod as a whole (its apps share the
namespaces); two values for one key are refused. The executor writes them in PID 1, which is in
the pod's namespaces: /proc/sys resolves net, ipc and uts entries by the writer's namespaces.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from appc.schema.isolator import Isolator
from appc.schema.linux import UNIX_SYSCTL, Sysctl
from rkt.stage1.planner.plan import PlanError

#: IPC-namespaced sysctls (ipc/ipc_sysctl.c as runc lists them).
IPC_SYSCTLS = frozenset(
    {
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    }
)
UTS_SYSCTLS = frozenset({"kernel.domainname"})
#: Longest value written (a page, as /proc/sys takes at most).
MAX_VALUE = 4095
_KEY = re.compile(r"[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+")


def namespace_of(key: str) -> str | None:
    """The namespace (as :func:`rkt.stage1.planner.pod.namespaces` names it) that holds ``key``;
    None for a sysctl of the host as a whole."""
    if key.startswith("net."):
        return "net"
    if key in IPC_SYSCTLS or key.startswith("fs.mqueue."):
        return "ipc"
    if key in UTS_SYSCTLS:
        return "uts"
    return None


def check(key: str, value: str, namespaces: Iterable[str]) -> None:
    """PlanError unless writing ``value`` to ``key`` changes only the pod's own namespaces."""
    if not _KEY.fullmatch(key):
        raise PlanError(
            f'sysctl "{key}" is not a valid key', hint="use dotted names like net.ipv4.ip_forward"
        )
    if not value or len(value) > MAX_VALUE or any(c in value for c in "\n\r\0"):
        raise PlanError(
            f'sysctl "{key}": value {value!r} is not valid',
            hint=f"one non-empty line of at most {MAX_VALUE} characters",
        )
    if key == "kernel.hostname":
        raise PlanError(
            'sysctl "kernel.hostname" is not allowed: it conflicts with the pod\'s hostname',
            hint="use --hostname",
        )
    where = namespace_of(key)
    if where is None:
        raise PlanError(
            f'sysctl "{key}" is not namespaced: setting it would change the host',
            hint="only net.*, fs.mqueue.*, the IPC limits and kernel.domainname may be set",
        )
    if where not in namespaces:
        raise PlanError(
            f'sysctl "{key}" needs the pod\'s own {where} namespace',
            hint="it would change the host's (--net=host)" if where == "net" else "",
        )


def proc_path(key: str) -> str:
    """The /proc/sys file of a (checked) key, relative to /proc/sys."""
    return key.replace(".", "/")


def values(isolators: Iterable[Isolator]) -> list[tuple[str, str]]:
    """The key-value pairs of the ``os/unix/sysctl`` isolators in a list, in order."""
    return [
        pair
        for isolator in isolators
        if isolator.name == UNIX_SYSCTL and isinstance(isolator.value, Sysctl)
        for pair in isolator.value.values
    ]


def pod_sysctls(
    groups: Iterable[tuple[str, Iterable[Isolator]]], namespaces: Iterable[str]
) -> tuple[tuple[str, str], ...]:
    """Every sysctl of the pod, checked; ``groups`` are (owner, isolators) pairs, the owner
    ("pod" or an app name) naming where a refused or conflicting sysctl comes from."""
    spaces = tuple(namespaces)
    chosen: dict[str, tuple[str, str]] = {}
    for owner, isolators in groups:
        for key, value in values(isolators):
            try:
                check(key, value, spaces)
            except PlanError as err:
                raise PlanError(f"{owner}: {err.message}", hint=err.hint) from err
            earlier = chosen.get(key)
            if earlier is not None and earlier[1] != value:
                raise PlanError(
                    f'sysctl "{key}": {earlier[0]} sets "{earlier[1]}", {owner} sets "{value}"',
                    hint="the apps of a pod share its namespaces: give one value",
                )
            chosen.setdefault(key, (owner, value))
    return tuple((key, value) for key, (_, value) in chosen.items())
