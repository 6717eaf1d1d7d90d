"""Where a pod's cgroups go, and making them: :func:`place_pod`. Knows no pods beyond a UUID.

Rocket never writes into a cgroup it does not own (docs/architecture.md, README "Hosts"). Three
cases, decided from the host and the cgroup of the process to place (``pid``: the runtime
process that becomes the pod's first member):

- **systemd, delegated** — ``pid`` is in a unit with ``Delegate=yes`` (a ``.service`` whose
  ``ExecStart=`` is ``rkt run``): the unit's subtree is ours. The pod is ``<ours>/rkt-<uuid>``;
  the processes in our own cgroup move to its leaf ``rkt-caller`` first (cgroup v2's "no
  internal processes": a cgroup that enables controllers for children holds no process).
- **systemd, not delegated** (a login shell, ``systemd-run``, a plain service): systemd makes
  the pod a transient scope ``rkt-<uuid>.scope`` in ``machine.slice`` (``slice_name``), with
  ``Delegate=yes``, over D-Bus — as machined did for rkt's systemd-nspawn and as podman's
  systemd cgroup driver does. The pod is ``<scope>/pod``: the scope's own attributes stay
  systemd's, ours are written one level down. systemd removes the scope and all below it once
  its last process has exited.
- **no systemd**: on cgroup v2 Rocket owns ``/rkt`` at the hierarchy's root (of the cgroup
  namespace) and the pod is ``/rkt/<uuid>``; on v1 (and hybrid) hosts, as before, the pod is
  ``rkt/<uuid>`` below the caller's cgroup in each hierarchy.

In every case the pod directory holds no process itself: the runtime's are in its leaf
``rkt-stage1.scope`` (``pid`` is moved there before :func:`place_pod` returns) and each app's
in a leaf of its own; v2 controllers are enabled from the owned base down to the pod, and the
pod gets its device policy (v1 ``devices`` files, a v2 BPF program: rkt.linux.bpf).

Entry points: :func:`place_pod` before the pod starts (the only call that decides), then the
writers of rkt.linux.cgroup (``finish_pod``/``write_limits``, ``oom_kills``, ``remove``), which
take paths and know nothing of where they came from.
"""

from __future__ import annotations

import contextlib
import errno
import os
import time
from collections.abc import Callable

from rkt.linux import systemd
from rkt.linux.cgroup import (
    DEVICE_RULES,
    PARENT,
    SUPERVISOR,
    V1,
    V2,
    V2_CONTROLLERS,
    CgroupError,
    Layout,
    PodCgroups,
    PodNames,
    attach,
    detect,
    remove,
    write_device_policy,
)

#: systemd's slice for containers and VMs (machined's, and rkt's under systemd-nspawn).
DEFAULT_SLICE = "machine.slice"
#: In a delegated cgroup: the leaf its own processes move to before controllers are enabled.
CALLER = "rkt-caller"
#: In a pod's scope: the pod's cgroup (the scope's attributes are systemd's).
IN_SCOPE = "pod"
#: How long systemd may take to move ``pid`` into a new scope (the job runs after the call).
SCOPE_TIMEOUT = 10.0
MODE_ROOT, MODE_SCOPE, MODE_DELEGATED, MODE_CALLER = "root", "scope", "delegated", "caller"


def _read(path: str) -> str:
    with open(path, encoding="utf-8", errors="surrogateescape") as f:
        return f.read()


def _layout_of(pid: int, prefix: str) -> Layout:
    return detect(_read("/proc/self/mountinfo"), _read(f"/proc/{pid}/cgroup"), prefix)


def _wait_in_scope(pid: int, unit: str, timeout: float = SCOPE_TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not systemd.cgroup_of(pid).endswith("/" + unit):
        if time.monotonic() > deadline:
            raise CgroupError(errno.ETIMEDOUT, f"systemd did not move pid {pid} into {unit}")
        time.sleep(0.002)


def _systemd_base(names: PodNames, pid: int, slice_name: str) -> tuple[str, str]:
    """(mode, unit): use the delegating unit ``pid`` is in, else make the pod's scope."""
    with systemd.manager() as bus:
        unit, path = systemd.unit_of_pid(bus, pid)
        top = systemd.cgroup_of(pid)
        if systemd.delegated_by_xattr("/sys/fs/cgroup" + top) or systemd.delegates(bus, unit, path):
            return MODE_DELEGATED, unit
        name = names.scope
        systemd.start_scope(
            bus, name, slice_name=slice_name, pids=[pid], description=names.description
        )
    _wait_in_scope(pid, name)
    return MODE_SCOPE, name


def _enable(directory: str, available: tuple[str, ...]) -> None:
    """v2: let the children of ``directory`` have the pod controllers it has itself."""
    try:
        with open(os.path.join(directory, "cgroup.controllers"), encoding="ascii") as f:
            present = f.read().split()
    except OSError:
        present = list(available)
    wanted = " ".join(f"+{c}" for c in V2_CONTROLLERS if c in present)
    if not wanted:
        return
    try:
        with open(os.path.join(directory, "cgroup.subtree_control"), "w", encoding="ascii") as f:
            f.write(wanted)
    except OSError as err:
        hint = ""
        if err.errno == errno.EBUSY:
            hint = " (it holds processes: cgroup v2 lets only leaves hold them)"
        raise CgroupError(
            err.errno, f"cannot enable {wanted} in {directory}: {err.strerror}{hint}"
        ) from err


def _evacuate(directory: str) -> None:
    """Move every process of ``directory`` into its leaf :data:`CALLER` (made if missing)."""
    leaf = os.path.join(directory, CALLER)
    os.makedirs(leaf, mode=0o755, exist_ok=True)
    for _ in range(100):  # processes may fork meanwhile; a few rounds empty it
        pids = _read(os.path.join(directory, "cgroup.procs")).split()
        if not pids:
            return
        for pid in pids:
            try:
                attach([os.path.join(leaf, "cgroup.procs")], int(pid))
            except ProcessLookupError:
                continue  # exited meanwhile
    raise CgroupError(errno.EBUSY, f"cannot empty {directory}: its processes keep forking")


def _attach_bpf(directory: str) -> None:
    from rkt.linux.bpf import attach_device_policy

    attach_device_policy(directory, DEVICE_RULES)


def place_pod(
    layout: Layout,
    names: PodNames,
    pid: int,
    *,
    slice_name: str = DEFAULT_SLICE,
    created: Callable[[PodCgroups], None] | None = None,
    systemd_dir: str = systemd.RUN_DIR,
    prefix: str = "",
    device_policy: Callable[[str], None] | None = None,
) -> PodCgroups:
    """Decide where the pod named ``names`` goes (see the module's docstring), make its cgroup and
    the leaf of the runtime (:data:`SUPERVISOR`), set the device policy, move ``pid`` into that
    leaf, and return the pod's cgroups (no limits yet: ``rkt.linux.cgroup.finish_pod``).

    ``created`` is called once the directories exist and before any process moves (to record
    them, so that gc finds them should we die). ``layout`` is the caller's (host_layout);
    ``prefix`` goes before every cgroup path and ``device_policy`` replaces the v2 BPF
    program's attachment (rkt.linux.bpf), for tests. A half-made pod cgroup is removed on
    failure (a scope goes with its processes)."""
    names.check()
    unit = ""
    origin: dict[str, str] = {}
    if systemd.booted(systemd_dir):
        try:
            mode, unit = _systemd_base(names, pid, slice_name)
        except OSError as err:
            raise CgroupError(err.errno or errno.EIO, f"systemd: {err}") from err
        layout = _layout_of(pid, prefix)
        bases = dict(layout.bases)
        if mode == MODE_DELEGATED:
            bases = {c: os.path.dirname(b) if os.path.basename(b) == CALLER else b
                     for c, b in bases.items()}  # fmt: skip
            dirs = {c: os.path.join(b, names.delegated) for c, b in bases.items()}
            origin = {c: os.path.join(b, CALLER) for c, b in bases.items()}
            unit = ""  # the delegating unit is not the pod's: never stopped for it
        else:
            dirs = {c: os.path.join(b, IN_SCOPE) for c, b in bases.items()}
        chain = sorted(set(bases.values()))
    elif layout.version == V2:
        mode = MODE_ROOT
        top = layout.top.rstrip("/") or "/"
        bases = dict.fromkeys(layout.bases, os.path.join(top, PARENT))
        dirs = {c: os.path.join(b, names.group) for c, b in bases.items()}
        origin = dict(layout.bases)
        chain = [top, os.path.join(top, PARENT)]
    else:
        mode = MODE_CALLER
        dirs = {c: os.path.join(b, PARENT, names.group) for c, b in layout.bases.items()}
        origin = dict(layout.bases)
        chain = []
    version = V2 if layout.version == V2 else V1
    pod = PodCgroups(version, dirs, unit=unit, origin=origin, mode=mode)
    # Left by an earlier run of this pod killed before gc (run-prepared runs a UUID again).
    remove(pod, timeout=0)
    try:
        for directory in pod.roots():
            os.makedirs(directory, mode=0o755, exist_ok=True)
        if version == V1 and "devices" in dirs:
            # Before any child: v1 refuses a new policy in a cgroup that has children.
            write_device_policy(dirs["devices"])
        for directory in pod.sub(SUPERVISOR):
            os.makedirs(directory, mode=0o755, exist_ok=True)
        if created is not None:
            created(pod)
        if mode in (MODE_SCOPE, MODE_DELEGATED):
            # Out of the base first: v2 enables no controller for children of a cgroup that
            # holds processes.
            attach(pod.procs(SUPERVISOR), pid)
            if version == V2 and mode == MODE_DELEGATED:
                for base in chain:
                    _evacuate(base)
        if version == V2:
            for directory in (*chain, *pod.roots()):
                _enable(directory, layout.available)
            (device_policy or _attach_bpf)(pod.roots()[0])
        if mode not in (MODE_SCOPE, MODE_DELEGATED):
            attach(pod.procs(SUPERVISOR), pid)
    except OSError as err:
        if mode != MODE_SCOPE:
            if mode == MODE_DELEGATED:  # moved already: back out of the pod, to be removed
                with contextlib.suppress(OSError):
                    attach((os.path.join(d, "cgroup.procs") for d in set(origin.values())), pid)
            remove(pod, timeout=0)
        if isinstance(err, CgroupError):
            raise
        raise CgroupError(err.errno, f"cannot set up the pod's cgroups: {err}") from err
    return pod
