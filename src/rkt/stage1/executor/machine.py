"""Registering a running pod with systemd-machined, as rkt's systemd-nspawn did: the pod is
the machine ``rkt-<uuid>`` (``machinectl list``, ``status``, ``terminate``).

Called once the pod's PID 1 exists (its leader), for a pod in a scope of its own; machined
attaches the machine to the leader's unit, stops that unit once the leader has exited (which
for the pod's scope is what happens anyway) and forgets the machine, so nothing has to be
undone. A pod in a ``Delegate=yes`` unit's subtree is not registered: machined would stop the
unit that runs ``rkt run`` when the pod ends. Best effort: a host without systemd or without
machined runs the pod unregistered. (When stage1's monitor becomes compiled code, this stays
a step of the Python that starts it, taking the leader's pid from it.)
"""

from __future__ import annotations

import os
import uuid as uuid_module

from rkt.linux.cgroup import PodNames
from rkt.pod import layout

#: machined is not running or not installed: the pod runs unregistered, silently.
_ABSENT = (
    "org.freedesktop.DBus.Error.ServiceUnknown",
    "org.freedesktop.DBus.Error.NameHasNoOwner",
    "",  # no bus at all
)


def machine_name(uuid: str) -> str:
    return f"rkt-{uuid}"


def cgroup_names(uuid: str) -> PodNames:
    """The pod's cgroups' names, as rkt had them: its UUID below the runtime's parent, the
    machine's name below a delegated unit, and the machine's scope under systemd."""
    name = machine_name(uuid)
    return PodNames(
        group=uuid, delegated=name, scope=f"{name}.scope", description=f"rkt pod {uuid}"
    )


def register(pod_dir: str, leader: int) -> str:
    """Register the pod whose PID 1 is ``leader`` (a host pid); "" when done or when there is
    nothing to register with, else why it failed (for a warning)."""
    from rkt.linux import systemd
    from rkt.linux.dbus import Connection, DBusError

    if not systemd.booted():
        return ""
    uuid = os.path.basename(pod_dir.rstrip("/"))
    try:
        machine_id = uuid_module.UUID(uuid).bytes
    except ValueError:
        return f"{uuid} is not a UUID"
    try:
        with Connection.system(timeout=5) as bus:
            systemd.register_machine(
                bus,
                machine_name(uuid),
                uuid=machine_id,
                leader=leader,
                root_directory=os.path.join(pod_dir, layout.STAGE1_ROOTFS),
            )
    except DBusError as err:
        return "" if err.name in _ABSENT else str(err)
    return ""
