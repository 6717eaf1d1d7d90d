"""Talking to systemd and systemd-machined: is systemd running, which unit holds a process,
does it delegate its cgroup, a transient scope, a machine registration. Knows no pods.

Every call is made over D-Bus (:mod:`rkt.linux.dbus`): to the system bus, or — for systemd's
own manager, when no bus daemon runs — to systemd's private socket, as ``systemctl`` does as
root. machined is only reachable on the bus. Each function takes an open connection, so one
pod start costs one connection; :func:`manager` opens the right one.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Sequence

from rkt.linux.dbus import Connection, DBusError, properties_get

#: Present while systemd is PID 1 (sd_booted(3)).
RUN_DIR = "/run/systemd/system"
PRIVATE_SOCKET = "unix:path=/run/systemd/private"
SYSTEMD = "org.freedesktop.systemd1"
SYSTEMD_PATH = "/org/freedesktop/systemd1"
MANAGER = "org.freedesktop.systemd1.Manager"
UNIT = "org.freedesktop.systemd1.Unit"
MACHINED = "org.freedesktop.machine1"
MACHINED_PATH = "/org/freedesktop/machine1"
MACHINED_MANAGER = "org.freedesktop.machine1.Manager"
#: systemd marks a delegated cgroup with this extended attribute (systemd 251 and later).
DELEGATE_XATTRS = ("trusted.delegate", "user.delegate")
_UNIT_INTERFACES = {
    "service": "org.freedesktop.systemd1.Service",
    "scope": "org.freedesktop.systemd1.Scope",
    "socket": "org.freedesktop.systemd1.Socket",
}


def booted(run_dir: str = RUN_DIR) -> bool:
    """Whether systemd is the init system (sd_booted(3): its runtime directory exists)."""
    return os.path.isdir(run_dir)


def manager(timeout: float = 10.0) -> Connection:
    """A connection systemd's manager answers on: the system bus, else systemd's private
    socket (root only; a host without a bus daemon)."""
    try:
        return Connection.system(timeout=timeout)
    except DBusError as bus_error:
        try:
            return Connection(PRIVATE_SOCKET, bus=False, timeout=timeout)
        except DBusError:
            raise bus_error from None


def unit_of_pid(connection: Connection, pid: int) -> tuple[str, str]:
    """The unit ``pid`` belongs to: (name, object path)."""
    [path] = connection.call(SYSTEMD, SYSTEMD_PATH, MANAGER, "GetUnitByPID", "u", pid)
    name = properties_get(connection, SYSTEMD, path, UNIT, "Id")
    return str(name), str(path)


def delegates(connection: Connection, name: str, path: str) -> bool:
    """Whether the unit has ``Delegate=yes`` (only services, scopes and sockets can)."""
    interface = _UNIT_INTERFACES.get(name.rpartition(".")[2])
    if interface is None:
        return False
    return bool(properties_get(connection, SYSTEMD, path, interface, "Delegate"))


def delegated_by_xattr(directory: str) -> bool:
    """Whether systemd marked the cgroup ``directory`` as delegated (an xattr, systemd 251+);
    False when it did not, or cannot tell."""
    for name in DELEGATE_XATTRS:
        with contextlib.suppress(OSError):
            if os.getxattr(directory, name) == b"1":
                return True
    return False


def start_scope(
    connection: Connection,
    name: str,
    *,
    slice_name: str,
    pids: Sequence[int],
    description: str,
) -> str:
    """Ask systemd for a transient scope unit ``name`` in ``slice_name`` holding ``pids``,
    its cgroup delegated to us (``Delegate=yes``: we may make sub-cgroups and enable
    controllers in it; its own attributes stay systemd's); the job's object path. The scope
    exists once the job ran: wait for a pid to show up in it (:func:`cgroup_of`)."""
    properties = [
        ("Description", ("s", description)),
        ("Slice", ("s", slice_name)),
        ("Delegate", ("b", True)),
        ("PIDs", ("au", list(pids))),
        # A scope whose processes died is gone at once, not kept as "failed" until reset.
        ("CollectMode", ("s", "inactive-or-failed")),
    ]
    [job] = connection.call(
        SYSTEMD, SYSTEMD_PATH, MANAGER, "StartTransientUnit", "ssa(sv)a(sa(sv))",
        name, "fail", properties, [],
    )  # fmt: skip
    return str(job)


def stop_unit(connection: Connection, name: str) -> None:
    """Stop a unit (its processes get SIGTERM, then SIGKILL); nothing if it is not loaded."""
    try:
        connection.call(SYSTEMD, SYSTEMD_PATH, MANAGER, "StopUnit", "ss", name, "replace")
    except DBusError as err:
        if err.name != "org.freedesktop.systemd1.NoSuchUnit":
            raise


def cgroup_of(pid: int, proc: str = "/proc") -> str:
    """The cgroup path systemd tracks ``pid`` by: its unified (v2, and hybrid) one, else its
    ``name=systemd`` one (a legacy v1 host)."""
    with open(f"{proc}/{pid}/cgroup", encoding="utf-8", errors="surrogateescape") as f:
        entries = [line.split(":", 2) for line in f.read().splitlines()]
    for wanted in ("", "name=systemd"):
        for entry in entries:
            if len(entry) == 3 and entry[1] == wanted:
                return entry[2]
    raise OSError(errno.ENOENT, f"no systemd cgroup for pid {pid}")


def register_machine(
    connection: Connection,
    name: str,
    *,
    uuid: bytes,
    leader: int,
    root_directory: str,
    service: str = "rkt",
) -> None:
    """Register a container with systemd-machined under ``name`` (``machinectl list``), in
    the unit ``leader`` is in (machined's RegisterMachine; CreateMachine would make a scope
    of its own). machined forgets it when that unit stops; ``machinectl terminate`` stops it."""
    if len(uuid) != 16:
        raise ValueError("a machine id is 16 bytes")
    connection.call(
        MACHINED, MACHINED_PATH, MACHINED_MANAGER, "RegisterMachine", "sayssus",
        name, uuid, service, "container", leader, root_directory,
    )  # fmt: skip


def unregister_machine(connection: Connection, name: str) -> None:
    """Forget a machine without stopping its unit; nothing if machined does not know it."""
    try:
        connection.call(MACHINED, MACHINED_PATH, MACHINED_MANAGER, "UnregisterMachine", "s", name)
    except DBusError as err:
        if err.name not in ("org.freedesktop.machine1.NoSuchMachine",):
            raise
