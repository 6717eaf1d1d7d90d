"""A pod's cgroups on cgroup v1 (and hybrid) and cgroup v2: create, limit, join, read, remove.

The layout is found in /proc/self/mountinfo and /proc/self/cgroup (their texts are arguments,
and every mount point can be prefixed, so unit tests lay out a temp dir as v1 or v2). On a
hybrid host (v1 controllers plus a controller-less cgroup2 mount) the v1 controllers are used.

Where a pod's cgroup goes (a systemd scope, a delegated subtree, ``/rkt/<uuid>`` at the v2
root, or ``rkt/<uuid>`` below the caller's cgroup in each v1 hierarchy of the memory, cpu,
cpuacct, pids, devices and blkio controllers) is decided by rkt.linux.placement.place_pod;
everything else here takes the pod's directories as arguments. Its
processes live in leaves only (v2's "no internal processes" rule): the runtime's in
:data:`SUPERVISOR`, each app's in a sub-cgroup named after the app (an AC name, so it never
collides with it).

Stdlib only; nothing here raises an rlimit or needs more than root's write access to cgroupfs.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Protocol

import msgspec

from rkt.linux.mountinfo import unescape

V1 = "v1"
V2 = "v2"
HYBRID = "hybrid"
#: The v1 controllers a pod gets a cgroup in (cpuacct only to account, for status and tests).
CONTROLLERS = ("memory", "cpu", "cpuacct", "pids", "devices", "blkio")
#: The v2 controllers enabled for pods (cpuacct is part of v2's cpu, blkio is v2's io).
V2_CONTROLLERS = ("cpu", "memory", "pids", "io")
#: Where the kernel lists the block devices, each with its ``dev`` (major:minor).
SYS_BLOCK = "/sys/block"
#: The leaf cgroup of the runtime's own processes (outer stage1, PID 1); not an AC name.
SUPERVISOR = "rkt-stage1.scope"
#: The pod cgroup's parent, below the caller's cgroup.
PARENT = "rkt"
CFS_PERIOD = 100_000
#: The kernel refuses CFS quotas under 1 ms.
MIN_QUOTA = 1_000


class CgroupError(OSError):
    """The pod's cgroups cannot be set up as asked."""


class Limits(Protocol):
    """What :func:`write_limits` reads of one cgroup's limits; ``None`` leaves the kernel's
    default (no limit). The one type that holds them is stage1's plan's
    (``rkt.stage1.planner.plan.CgroupLimits``): a protocol here rather than a twin, since the
    planner may not import rkt.linux and this package imports nothing above it."""

    @property
    def memory(self) -> int | None: ...
    @property
    def cpu_quota(self) -> int | None: ...
    @property
    def cpu_period(self) -> int: ...
    @property
    def cpu_shares(self) -> int | None: ...
    @property
    def pids(self) -> int | None: ...
    @property
    def block_bps(self) -> int | None: ...
    @property
    def block_iops(self) -> int | None: ...


def quota_from_millicores(millicores: int, period: int = CFS_PERIOD) -> int:
    """CFS quota in µs per ``period`` for a cpu limit in millicores (ace.md "resource/cpu")."""
    return max(MIN_QUOTA, millicores * period // 1000)


def shares_to_weight(shares: int) -> int:
    """cpu.shares (2..262144) to cpu.weight (1..10000), as runc converts them."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


class Layout(msgspec.Struct, frozen=True):
    """Where the caller's cgroups are: ``bases`` maps each wanted controller to the directory
    of the caller's cgroup in its hierarchy (v1), or all of them to the one v2 directory;
    ``top`` is the v2 mount point (whose ancestors of ``bases`` get subtree_control)."""

    version: str
    bases: Mapping[str, str]
    top: str = ""
    available: tuple[str, ...] = ()


def _mounts(mountinfo: str) -> list[tuple[str, str, str, set[str]]]:
    """(fstype, mount root, mount point, super options) of the cgroup mounts."""
    found = []
    for line in mountinfo.splitlines():
        head, sep, tail = line.partition(" - ")
        if not sep:
            continue
        fields, rest = head.split(" "), tail.split(" ")
        if len(fields) < 5 or len(rest) < 3 or rest[0] not in ("cgroup", "cgroup2"):
            continue
        found.append((rest[0], unescape(fields[3]), unescape(fields[4]), set(rest[2].split(","))))
    return found


def _own(proc_cgroup: str) -> dict[str, str]:
    """Controller (or "" for v2) to the caller's cgroup path, from /proc/self/cgroup."""
    own: dict[str, str] = {}
    for line in proc_cgroup.splitlines():
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        for name in parts[1].split(",") if parts[1] else [""]:
            own[name] = parts[2]
    return own


def _join(mount_point: str, mount_root: str, path: str, prefix: str) -> str:
    # A mount of a sub-tree (cgroup namespaces, containers) shows paths relative to its root.
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        path = path[len(mount_root) :]
    return os.path.normpath(prefix + mount_point + "/" + path.lstrip("/"))


def detect(mountinfo: str, proc_cgroup: str, prefix: str = "") -> Layout:
    """The cgroup layout from the texts of /proc/self/mountinfo and /proc/self/cgroup.

    v1 if v1 hierarchies hold any of :data:`CONTROLLERS` (hybrid when a cgroup2 is mounted
    too), else v2 if cgroup2 is mounted; CgroupError when there are no cgroups at all.
    ``prefix`` is put before every mount point (a temp dir in tests).
    """
    mounts = _mounts(mountinfo)
    own = _own(proc_cgroup)
    bases: dict[str, str] = {}
    unified = None
    for fstype, root, point, options in mounts:
        if fstype == "cgroup2":
            unified = unified or (root, point)
            continue
        for name in CONTROLLERS:
            if name in options and name not in bases and name in own:
                bases[name] = _join(point, root, own[name], prefix)
    if bases:
        return Layout(HYBRID if unified else V1, bases, available=tuple(sorted(bases)))
    if unified is None:
        raise CgroupError(errno.ENOENT, "no cgroup hierarchy is mounted")
    root, point = unified
    base = _join(point, root, own.get("", "/"), prefix)
    top = os.path.normpath(prefix + point)
    try:
        with open(os.path.join(top, "cgroup.controllers"), encoding="ascii") as f:
            present = f.read().split()
        available = tuple(c for c in V2_CONTROLLERS if c in present)
    except OSError:
        available = ()
    return Layout(V2, dict.fromkeys(V2_CONTROLLERS, base), top, available)


def host_layout() -> Layout:
    with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
        mountinfo = f.read()
    with open("/proc/self/cgroup", encoding="utf-8", errors="surrogateescape") as f:
        proc_cgroup = f.read()
    return detect(mountinfo, proc_cgroup)


def _write(path: str, value: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


class PodCgroups(msgspec.Struct, frozen=True):
    """A pod's cgroups: ``dirs`` maps each controller to the pod's directory in its hierarchy
    (several controllers may share one); ``apps`` are the app names with a sub-cgroup;
    ``unit`` the systemd scope made for the pod ("" for none); ``origin`` per controller the
    cgroup the runtime may go back to (:func:`leave`; none in a scope); ``mode`` how it was
    placed (rkt.linux.placement: root, scope, delegated, caller)."""

    version: str
    dirs: Mapping[str, str]
    apps: tuple[str, ...] = ()
    unit: str = ""
    origin: Mapping[str, str] = msgspec.field(default_factory=dict)
    mode: str = ""

    def roots(self) -> tuple[str, ...]:
        """The pod's distinct directories, one per hierarchy."""
        return tuple(sorted(set(self.dirs.values())))

    def path(self) -> str:
        """The pod's cgroup to show: the memory hierarchy's (or the only) directory."""
        return self.dirs.get("memory") or self.roots()[0]

    def sub(self, name: str) -> tuple[str, ...]:
        return tuple(os.path.join(d, name) for d in self.roots())

    def procs(self, name: str) -> tuple[str, ...]:
        """The ``cgroup.procs`` files of a leaf (an app's, or :data:`SUPERVISOR`)."""
        return tuple(os.path.join(d, "cgroup.procs") for d in self.sub(name))

    def to_json(self) -> str:
        document = {"version": self.version, "dirs": dict(self.dirs), "apps": list(self.apps)}
        if self.unit:
            document["unit"] = self.unit
        if self.origin:
            document["origin"] = dict(self.origin)
        if self.mode:
            document["mode"] = self.mode
        return json.dumps(document, sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> PodCgroups:
        doc = json.loads(text)
        return cls(
            str(doc["version"]),
            dict(doc["dirs"]),
            tuple(doc.get("apps", ())),
            str(doc.get("unit", "")),
            dict(doc.get("origin", {})),
            str(doc.get("mode", "")),
        )


#: The devices a pod may open (v1 ``devices`` controller): the character devices of the
#: minimal /dev the executor builds (null, zero, full, random, urandom, tty, console, ptmx and
#: the pts it allocates). Creating nodes stays allowed (``m``), opening any other device is
#: denied — otherwise CAP_MKNOD would let a pod's root make and open any host device (rkt
#: closed this with systemd's DevicePolicy=closed; runc and Docker use the same list).
DEVICE_RULES = (
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
)


def write_device_policy(directory: str) -> None:
    """Deny all devices in the v1 ``devices`` cgroup ``directory``, then allow
    :data:`DEVICE_RULES`; sub-cgroups made afterwards inherit the list. (cgroup v2 has no
    devices files: the same rules become a BPF program, rkt.linux.bpf.)"""
    _write(os.path.join(directory, "devices.deny"), "a")
    for rule in DEVICE_RULES:
        _write(os.path.join(directory, "devices.allow"), rule)


def block_devices(sys_block: str = SYS_BLOCK) -> list[str]:
    """``major:minor`` of every block device of the host (whole disks: partitions are throttled
    through their disk), sorted; ace.md's block isolators apply to all devices ("default")."""
    found = []
    try:
        names = os.listdir(sys_block)
    except OSError:
        return []
    for name in names:
        try:
            with open(os.path.join(sys_block, name, "dev"), encoding="ascii") as f:
                found.append(f.read().strip())
        except OSError:
            continue
    return sorted(found)


def _block_lines(limits: Limits, devices: Sequence[str], version: str) -> dict[str, list[str]]:
    """The lines to write per file for the block limits, one per device."""
    if version == V2:
        keys = []
        if limits.block_bps is not None:
            keys += [f"rbps={limits.block_bps}", f"wbps={limits.block_bps}"]
        if limits.block_iops is not None:
            keys += [f"riops={limits.block_iops}", f"wiops={limits.block_iops}"]
        return {"io.max": [f"{d} {' '.join(keys)}" for d in devices]} if keys else {}
    lines: dict[str, list[str]] = {}
    for value, kind in ((limits.block_bps, "bps"), (limits.block_iops, "iops")):
        if value is not None:
            for direction in ("read", "write"):
                name = f"blkio.throttle.{direction}_{kind}_device"
                lines[name] = [f"{d} {value}" for d in devices]
    return lines


def _write_block_limits(
    version: str, directory: str, limits: Limits, devices: Sequence[str] | None
) -> list[str]:
    """Throttle every block device; a device the throttle refuses (ENODEV, EINVAL: one without
    a request queue of its own) is skipped, but some device must take it."""
    found = block_devices() if devices is None else devices
    written: list[str] = []
    for name, lines in _block_lines(limits, found, version).items():
        path = os.path.join(directory, name)
        taken = 0
        for line in lines:
            try:
                _write(path, line)
                taken += 1
            except OSError as err:
                if err.errno not in (errno.ENODEV, errno.EINVAL):
                    raise
        if not taken:
            raise CgroupError(errno.ENODEV, f"no block device takes the limit in {path}")
        written.append(path)
    return written


def write_limits(
    version: str,
    dirs: Mapping[str, str],
    limits: Limits,
    devices: Sequence[str] | None = None,
) -> list[str]:
    """Write ``limits`` into the cgroup whose directory per controller is ``dirs``; the files
    written, in order. v1 also caps memory+swap at the memory limit (when the kernel accounts
    swap), v2 swap at 0, so that a limit is not escaped into swap. ``devices`` (major:minor) are
    the devices block limits apply to: by default every block device of the host."""
    written: list[str] = []

    def put(controller: str, name: str, value: str, optional: bool = False) -> None:
        directory = dirs.get(controller)
        if directory is None:
            return
        path = os.path.join(directory, name)
        if optional and not os.path.exists(path):
            return
        _write(path, value)
        written.append(path)

    if version == V2:
        if limits.memory is not None:
            put("memory", "memory.max", str(limits.memory))
            put("memory", "memory.swap.max", "0", optional=True)
        if limits.cpu_quota is not None:
            put("cpu", "cpu.max", f"{limits.cpu_quota} {limits.cpu_period}")
        if limits.cpu_shares is not None:
            put("cpu", "cpu.weight", str(shares_to_weight(limits.cpu_shares)))
    else:
        if limits.memory is not None:
            put("memory", "memory.limit_in_bytes", str(limits.memory))
            put("memory", "memory.memsw.limit_in_bytes", str(limits.memory), optional=True)
        if limits.cpu_quota is not None:
            put("cpu", "cpu.cfs_period_us", str(limits.cpu_period))
            put("cpu", "cpu.cfs_quota_us", str(limits.cpu_quota))
        if limits.cpu_shares is not None:
            put("cpu", "cpu.shares", str(limits.cpu_shares))
    if limits.pids is not None:
        put("pids", "pids.max", str(limits.pids))
    if limits.block_bps is not None or limits.block_iops is not None:
        directory = dirs.get("io" if version == V2 else "blkio")
        if directory is None:
            raise CgroupError(errno.ENODEV, "block I/O limits need the blkio (v2: io) controller")
        written += _write_block_limits(version, directory, limits, devices)
    return written


class PodNames(msgspec.Struct, frozen=True):
    """What the caller names a pod's cgroups (rkt.stage1.executor.machine.cgroup_names): this
    module knows no pods. ``group``: its cgroup below the runtime's :data:`PARENT` (v1, and v2
    without systemd); ``delegated``: below a ``Delegate=yes`` unit's; ``scope``: the systemd
    scope made for it, described as ``description``."""

    group: str
    delegated: str
    scope: str
    description: str = ""

    def check(self) -> None:
        for name in (self.group, self.delegated, self.scope):
            if "/" in name or name in ("", ".", ".."):
                raise CgroupError(errno.EINVAL, f"bad pod cgroup name {name!r}")


def finish_pod(pod: PodCgroups, pod_limits: Limits, app_limits: Mapping[str, Limits]) -> PodCgroups:
    """The pod of rkt.linux.placement.place_pod with one leaf per app and every limit written."""
    try:
        write_limits(pod.version, pod.dirs, pod_limits)
        for name in (SUPERVISOR, *app_limits):
            for directory in pod.sub(name):
                os.makedirs(directory, mode=0o755, exist_ok=True)
            limits = app_limits.get(name)  # none for the supervisor's leaf
            if limits is not None:
                leaf = {c: os.path.join(d, name) for c, d in pod.dirs.items()}
                write_limits(pod.version, leaf, limits)
    except OSError as err:
        raise CgroupError(err.errno, f"cannot set the pod's cgroup limits: {err}") from err
    return msgspec.structs.replace(pod, apps=tuple(app_limits))


class MovePrimer:
    """A process that moves itself into its own cgroup (a move that changes nothing), so that
    the grace period every cgroup move can wait out is paid now, while the caller goes on.

    Moving a process takes the kernel's threadgroup rwsem for writing, which waits for an RCU
    grace period (6-30 ms on the bench VM) unless another move took it less than about a grace
    period ago (rcu_sync). ``rkt run`` starts one as it begins, so that stage1's move into the
    pod's cgroup, some 15 ms later, usually finds the lock warm and takes
    0.2 ms instead. A shell spawned (vfork) rather than a fork of ours, since a forked copy of
    the interpreter makes the caller pay copy-on-write faults for everything it then touches;
    the shell leaves the move to a background job and exits at once, so that :meth:`reap`
    (due before the pod starts: no zombie child for its lifetime) does not wait for the grace
    period. Best effort: without cgroups or /bin/sh nothing is started, a refused move is
    ignored.
    """

    SHELL = "/bin/sh"

    def __init__(self) -> None:
        self.pid = 0
        try:
            base = next(iter(host_layout().bases.values()))
            self.pid = os.posix_spawn(
                self.SHELL,
                [self.SHELL, "-c", 'echo 0 > "$1" &', "sh", os.path.join(base, "cgroup.procs")],
                {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"},
                file_actions=[(os.POSIX_SPAWN_CLOSE, fd) for fd in (1, 2)],
            )
        except (OSError, StopIteration, CgroupError):
            pass

    def reap(self) -> None:
        """Wait for the shell (not its background job), once."""
        if self.pid:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(self.pid, 0)
            self.pid = 0


def leave(pod: PodCgroups) -> bool:
    """Move the caller from the pod's cgroups back to where it may be (``pod.origin``), so
    that they can be removed; False when there is no such place (a systemd scope: it goes
    with its last process)."""
    if not pod.origin:
        return False
    attach(os.path.join(d, "cgroup.procs") for d in sorted(set(pod.origin.values())))
    return True


def attach(procs_files: Iterable[str], pid: int = 0) -> None:
    """Move ``pid`` (0: the caller) into the cgroup of each ``cgroup.procs`` file."""
    for path in procs_files:
        with open(path, "w", encoding="ascii") as f:
            f.write(str(pid))


def oom_counter(pod: PodCgroups, name: str) -> str | None:
    """The file of a leaf whose ``oom_kill N`` line counts the processes the OOM killer killed
    in it (v1 ``memory.oom_control``, v2 ``memory.events``); None without a memory controller."""
    directory = pod.dirs.get("memory")
    if directory is None:
        return None
    return os.path.join(directory, name, "memory.events" if pod.version == V2 else
                        "memory.oom_control")  # fmt: skip


def oom_kills(pod: PodCgroups, name: str) -> int:
    """How many processes the OOM killer has killed in a leaf (:func:`oom_counter`); 0 when
    unknown."""
    counter = oom_counter(pod, name)
    if counter is None:
        return 0
    try:
        with open(counter, encoding="ascii") as f:
            text = f.read()
    except OSError:
        return 0
    for line in text.splitlines():
        key, _, value = line.partition(" ")
        if key == "oom_kill" and value.strip().isdigit():
            return int(value)
    return 0


def _tree(root: str) -> list[str]:
    """``root`` and every directory below it, deepest first (on cgroupfs: its sub-cgroups)."""
    found = [top for top, _, _ in os.walk(root, topdown=False, followlinks=False)]
    return found or [root]


def remove(
    pod: PodCgroups,
    *,
    timeout: float = 5.0,
    rmdir: Callable[[str], None] = os.rmdir,
) -> list[str]:
    """Remove the pod's cgroups, deepest first (every sub-cgroup found, then the pod's, then
    ``rkt`` if it is empty), retrying on EBUSY (processes still draining) until ``timeout``
    seconds in all; the errors met (a directory already gone is none)."""
    errors: list[str] = []
    deadline = time.monotonic() + timeout
    for root in pod.roots():
        for directory in _tree(root):
            while True:
                try:
                    rmdir(directory)
                    break
                except FileNotFoundError:
                    break
                except OSError as err:
                    if err.errno == errno.EBUSY and time.monotonic() < deadline:
                        time.sleep(0.02)
                        continue
                    errors.append(f"{directory}: {err.strerror}")
                    break
    for root in pod.roots():
        # ``rkt``, shared by every pod; left in place while another pod uses it. (A scope's
        # or a delegated unit's cgroup is systemd's, never removed here.)
        if os.path.basename(os.path.dirname(root)) == PARENT:
            with contextlib.suppress(OSError):
                rmdir(os.path.dirname(root))
    return errors


def save(pod: PodCgroups, path: str) -> None:
    """Record the pod's cgroups in the file ``path``."""
    os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
    # rkt.atomicfile's write, which rkt.linux may not import; unsynced as stage1's other
    # records of the running pod are (a crash of the host ends the cgroups it names too).
    tmp = f"{path}.tmp{os.getpid()}"
    _write(tmp, pod.to_json() + "\n")
    os.rename(tmp, path)


def load(path: str) -> PodCgroups | None:
    """The cgroups recorded in ``path``, or None when there is none (or it is unreadable)."""
    try:
        with open(path, encoding="utf-8") as f:
            return PodCgroups.from_json(f.read())
    except (OSError, ValueError, KeyError, TypeError, RecursionError):
        return None
