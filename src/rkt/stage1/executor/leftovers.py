"""``rkt gc``'s host sweep: what pods left on the host after their directories went without gc.

A pod's own gc (:mod:`rkt.stage1.executor.gc`) tears down what its directory records. When the
directory is gone (removed by hand, a data dir wiped, a crash between steps), nothing records
what it had; this sweep finds such leftovers by the pod UUID in their names:

- cgroups named for a pod in every placement mode (rkt.linux.placement): ``…/rkt/<uuid>`` (v1
  below the caller, v2 at the root), ``rkt-<uuid>`` (a delegated unit's subtree), and a
  systemd scope ``rkt-<uuid>.scope`` (stopped through systemd, never removed by hand);
- mounts under this data dir's ``pods/`` whose pod directory is no pod of this data dir (the
  netns files, app roots);
- host-local leases held by a pod UUID (``<dataDir>/<network>/<address>``, for the networks of
  this host's configuration), then the masquerading chains of networks that no lease is on any
  more, ptp's per-pod NAT chains (comment ``id: "<uuid>"``) and the loopback guard.

**When is a UUID's pod gone?** Never from this data dir alone: other data dirs (``--dir``) may
run pods at the same time, on the same cgroups, networks and leases. A UUID is *in use*, and
nothing named for it is touched, when any of these holds:

1. a pod directory of that UUID exists in this data dir's ``pods/``, in any phase (its own gc
   takes care of it);
2. any process on the host has a directory ``…/pods/<phase>/<uuid>`` open: a running pod's
   monitor holds its pod directory's lock through an open descriptor for the pod's whole
   life, and so do ``rkt run``, ``prepare`` and the teardown while they work, in whatever
   data dir (read from ``/proc/*/fd``; the sweep must run in the host's pid namespace);
3. a mount point lies in a directory ``…/pods/<phase>/<uuid>/``: a pod of another data dir
   that has exited but was not collected yet keeps its network namespace and app roots
   mounted there, and its lease and NAT rules with them, until its own gc.

A cgroup must besides hold no process (the kernel refuses to remove one that does, or that has
children: it is removed deepest first and a busy one is left alone). What is left of a pod of
another data dir that exited, was unmounted and is not locked is swept here as well; that
pod's own gc later finds it gone, which its teardown tolerates.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import ipaddress
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.linux import cgroup
from rkt.linux.mountinfo import MOUNTINFO, mount_points, unescape

if TYPE_CHECKING:
    from rkt.config import ConfigDirs
    from rkt.linux.kernel import Kernel
    from rkt.net.config import NetworkConfig

_UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
_PHASES = r"(?:embryo|prepare|prepared|run|exited-garbage|garbage)"
_POD_PATH = re.compile(rf"/pods/{_PHASES}/({_UUID})(?:/|$)")
_CGROUP_NAMES = re.compile(rf"^(?:rkt-)?({_UUID})(\.scope)?$")
_UUID_ONLY = re.compile(rf"^{_UUID}$")


def local_uuids(pods: Path) -> set[str]:
    """The UUIDs of this data dir's pods, in every phase."""
    found: set[str] = set()
    for phase in ("embryo", "prepare", "prepared", "run", "exited-garbage", "garbage"):
        with contextlib.suppress(OSError):
            found.update(n for n in os.listdir(pods / phase) if _UUID_ONLY.match(n))
    return found


def busy_uuids(proc: str = "/proc", mountinfo: str = MOUNTINFO) -> set[str]:
    """UUIDs whose pod directory, in any data dir, a process holds open or a mount lies in
    (rules 2 and 3 of the module's docstring)."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for point in mount_points(mountinfo):
            if match := _POD_PATH.search(point):
                found.add(match.group(1))
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        fd_dir = f"{proc}/{pid}/fd"
        try:
            fds = os.listdir(fd_dir)
        except OSError:
            continue  # exited meanwhile, or a kernel thread
        for fd in fds:
            try:
                target = os.readlink(f"{fd_dir}/{fd}")
            except OSError:
                continue
            if "/pods/" in target and (match := _POD_PATH.search(target)):
                found.add(match.group(1))
    return found


InUse = Callable[[str], bool]


class _InUse:
    """Whether a UUID is in use (the module's rules); the host's processes and mounts are
    looked at only once a UUID that is no pod of this data dir has to be judged."""

    def __init__(self, pods: Path, proc: str, mountinfo: str) -> None:
        self.local = local_uuids(pods)
        self.proc, self.mountinfo = proc, mountinfo
        self.busy: set[str] | None = None

    def __call__(self, uuid: str) -> bool:
        if uuid in self.local:
            return True
        if self.busy is None:
            self.busy = busy_uuids(self.proc, self.mountinfo)
        return uuid in self.busy


# --- cgroups ------------------------------------------------------------------------------------


def _cgroup_mounts(mountinfo: str) -> list[str]:
    points = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            fields = head.split(" ")
            if len(fields) > 4 and tail.split(" ")[:1] in (["cgroup"], ["cgroup2"]):
                points.append(unescape(fields[4]))
    return sorted(set(points))


def pod_cgroups(mountinfo: str = MOUNTINFO) -> dict[str, list[str]]:
    """Cgroup directories named for a pod, by UUID, in every hierarchy: ``rkt/<uuid>``,
    ``rkt-<uuid>`` and ``rkt-<uuid>.scope`` (not descending into them)."""
    found: dict[str, list[str]] = {}
    for top in _cgroup_mounts(mountinfo):
        for directory, subdirs, _files in os.walk(top):
            keep = []
            for name in subdirs:
                match = _CGROUP_NAMES.match(name)
                named = match is not None and (
                    name.startswith("rkt-") or os.path.basename(directory) == cgroup.PARENT
                )
                if named and match is not None:
                    found.setdefault(match.group(1), []).append(os.path.join(directory, name))
                else:
                    keep.append(name)
            subdirs[:] = keep
    return found


def _has_processes(root: str) -> bool:
    for directory, _subdirs, _files in os.walk(root):
        try:
            with open(os.path.join(directory, "cgroup.procs"), encoding="ascii") as f:
                if f.read().strip():
                    return True
        except OSError:
            continue
    return False


def _remove_cgroup(path: str) -> list[str]:
    if path.endswith(".scope"):
        # systemd's: it removes an empty scope itself; one still listed is stopped through it.
        from rkt.linux import systemd

        try:
            with systemd.manager() as bus:
                systemd.stop_unit(bus, os.path.basename(path))
        except OSError as err:
            return [f"{os.path.basename(path)}: {err}"]
        return []
    version = cgroup.V2 if os.path.exists(os.path.join(path, "cgroup.controllers")) else cgroup.V1
    return cgroup.remove(cgroup.PodCgroups(version, {"pod": path}), timeout=0)


# --- networks -----------------------------------------------------------------------------------


def _lease_owner(path: Path) -> str:
    """The container ID a host-local lease file holds (its first line)."""
    try:
        with open(path, "rb") as f:
            return f.read(256).split(b"\n", 1)[0].strip().decode("ascii", "replace")
    except OSError:
        return ""


def _release_leases(directory: Path, in_use: InUse) -> list[str]:
    """Remove the leases of pods that are gone, under host-local's own lock of the network."""
    try:
        names = os.listdir(directory)
    except OSError:
        return []
    removed: list[str] = []
    lock_path = directory / "lock"
    try:
        lock = os.open(lock_path, os.O_RDONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
    except OSError:
        lock = -1
    try:
        if lock >= 0:
            fcntl.flock(lock, fcntl.LOCK_EX)
        for name in names:
            with contextlib.suppress(ValueError):
                ipaddress.ip_address(name)
                owner = _lease_owner(directory / name)
                if _UUID_ONLY.match(owner) and not in_use(owner):
                    with contextlib.suppress(FileNotFoundError):
                        (directory / name).unlink()
                    removed.append(f"lease {directory / name} of pod {owner}")
    finally:
        if lock >= 0:
            os.close(lock)
    return removed


def _networks(dirs: ConfigDirs) -> list[NetworkConfig]:
    from rkt.errors import ConfigError
    from rkt.net.config import load_networks

    try:
        return list(load_networks(dirs).values())
    except ConfigError:
        from rkt.net.config import builtin_networks

        return list(builtin_networks().values())


def sweep_networks(dirs: ConfigDirs, in_use: InUse) -> tuple[list[str], list[str]]:
    from rkt.errors import NetworkError
    from rkt.net import localnet, masquerade

    done: list[str] = []
    errors: list[str] = []
    networks = _networks(dirs)
    for network in networks:
        directory = masquerade.lease_dir(network)
        if directory is not None:
            done += _release_leases(directory, in_use)
    chains, failed = masquerade.release_pod_chains(
        lambda owner: bool(_UUID_ONLY.match(owner)) and not in_use(owner)
    )
    done += chains
    errors += failed
    for network in networks:
        if network.type == "ptp":
            try:
                errors += masquerade.release_if_idle(network)
            except NetworkError as err:
                errors.append(str(err))
    masquerade.drop_idle_locks()
    errors += localnet.release_if_unused()
    return done, errors


# --- the sweep ----------------------------------------------------------------------------------


def sweep(
    pods: Path,
    dirs: ConfigDirs | None,
    *,
    mountinfo: str = MOUNTINFO,
    proc: str = "/proc",
    kernel: Kernel | None = None,
) -> tuple[list[str], list[str]]:
    """Remove what pods that are gone left on the host (see the module's docstring); returns
    (what was removed, errors met). ``dirs``: the configuration whose networks' leases to
    look at (None: no network sweep). ``kernel``: what unmounts (a RealKernel by default)."""
    from rkt.linux.mount import MNT_DETACH

    if kernel is None:
        from rkt.linux.kernel import RealKernel

        kernel = RealKernel()

    done: list[str] = []
    errors: list[str] = []
    in_use = _InUse(pods, proc, mountinfo)
    # Mounts under this data dir of pods it does not have (rule 3 counts them as in use
    # elsewhere, so they are judged against this data dir's pods only).
    top = os.path.realpath(pods)
    known = in_use.local
    with contextlib.suppress(OSError):
        points = [p for p in mount_points(mountinfo) if p.startswith(top + "/")]
        for point in sorted(points, key=lambda p: p.count("/"), reverse=True):
            match = _POD_PATH.search(point)
            if match and match.group(1) not in known:
                try:
                    kernel.umount2(point, MNT_DETACH)
                    done.append(f"mount {point}")
                except OSError as err:
                    if err.errno not in (errno.EINVAL, errno.ENOENT):
                        errors.append(f"{point}: {err}")
    with contextlib.suppress(OSError):
        for uuid, paths in sorted(pod_cgroups(mountinfo).items()):
            if in_use(uuid):
                continue
            for path in paths:
                if _has_processes(path):
                    continue
                failed = _remove_cgroup(path)
                errors += failed
                if not failed:
                    done.append(f"cgroup {path}")
    if dirs is not None:
        more, failed = sweep_networks(dirs, in_use)
        done += more
        errors += failed
    return done, errors
