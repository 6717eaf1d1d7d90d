"""Running a pod for ``python -m rkt.stage1.run`` (the entry, which has already started
joining the pod's cgroup: rkt.linux.cgroup.Joining).

Three processes, none with threads (besides the short-lived cgroup helper):

- this one (stage0's child) reads the pod dir, plans, writes the generated files, holds the pod
  lock (``RKT_LOCK_FD``) until the pod has exited and passes SIGTERM/SIGINT/SIGHUP to PID 1;
- a forked child that unshares the pod's namespaces (mount, uts, ipc, pid, and net unless
  ``--net=host``), makes its mounts private and forks PID 1, writing its host pid to ``pid``;
- the pod's PID 1 (:mod:`rkt.stage1.supervisor`).

Exit status: the pod's (see the supervisor), or 254 with one line on stderr for our own failures.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
from types import FrameType

import msgspec.structs

from rkt.linux import cgroup, mount, namespace, netif, process
from rkt.linux import seccomp as linux_seccomp
from rkt.linux.kernel import RealKernel
from rkt.pod import layout
from rkt.stage1 import isolator_report, seccomp_groups, supervisor
from rkt.stage1.executor import (
    ExecutorError,
    apply_sysctls,
    build_filter,
    prepare_mounts,
    prepare_pod_files,
    write_atomically,
)
from rkt.stage1.load import LoadError, load
from rkt.stage1.plan import AppPlan, PlanError, PodPlan
from rkt.stage1.pod import plan_pod
from rkt.stage1.run import lock_fd

FAILURE = 254
#: Isolators this executor could not enforce, per app; ace.md requires that they be reported.
#: Names of the ignored isolators of each app that has any.
UNENFORCED = "stage1/unenforced-isolators.json"
#: Every isolator of each app (and of the pod) with its status, ``{"<app>": [{"name", "status",
#: "reason", "scope"}]}`` (rkt.stage1.isolator_report); ``rkt status`` summarises it.
ISOLATORS = isolator_report.REPORT
#: Each app's resolved seccomp filter, ``<app>.json`` (seccomp_groups.Filter.to_json).
SECCOMP_DIR = "stage1/seccomp"
_NAMESPACES = {
    "user": namespace.CLONE_NEWUSER,
    "mount": namespace.CLONE_NEWNS,
    "uts": namespace.CLONE_NEWUTS,
    "ipc": namespace.CLONE_NEWIPC,
    "pid": namespace.CLONE_NEWPID,
    "net": namespace.CLONE_NEWNET,
}
_FORWARDED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


def _fail(message: str) -> int:
    print(f"stage1: {message}", file=sys.stderr, flush=True)
    return FAILURE


def _record_unenforced(plan: PodPlan, pod_dir: str, debug: bool) -> None:
    # ace.md: which isolators are enforced and which ignored (ISOLATORS), and the names of the
    # ignored ones (UNENFORCED). Each app's resolved seccomp filter is checked here, before the
    # pod starts, and kept in SECCOMP_DIR for enter, which installs the same filter.
    unenforced: dict[str, list[str]] = {}
    report: dict[str, list[dict[str, str]]] = {}
    for app in plan.apps:
        _save_filter(app, pod_dir, debug)
        report[app.name] = isolator_report.to_json(app.isolators)
        ignored = [s.name for s in app.isolators if s.status == isolator_report.IGNORED]
        if ignored:
            unenforced[app.name] = ignored
    for name, content in ((UNENFORCED, unenforced), (ISOLATORS, report)):
        path = os.path.join(pod_dir, name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        content_bytes = json.dumps(content, sort_keys=True).encode() + b"\n"
        write_atomically(path, content_bytes, 0o644, durable=False)


def _save_filter(app: AppPlan, pod_dir: str, debug: bool) -> None:
    try:
        resolved = seccomp_groups.resolve(app.seccomp)
    except seccomp_groups.SeccompError as err:
        raise ExecutorError(f'app "{app.name}": {err}') from err
    directory = os.path.join(pod_dir, SECCOMP_DIR)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.join(directory, f"{app.name}.json")
    if resolved is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return
    content = json.dumps(resolved.to_json(), sort_keys=True).encode() + b"\n"
    write_atomically(path, content, 0o644, durable=False)
    # Each app's process builds its filter; loaded here once, the library comes with the fork.
    linux_seccomp.load_library()
    built = build_filter(resolved) if debug else None
    if built is not None and built.skipped:
        names = ", ".join(built.skipped)
        print(f"stage1: {app.name}: seccomp: not on this architecture: {names}", file=sys.stderr)


def _join_netns(path: str, *, unprivileged_ports: bool = False) -> None:
    """Enter the network namespace stage0 made for the pod's CNI networks; bring ``lo`` up.

    ``unprivileged_ports``: the pod's apps will be in a user namespace that does not own this
    network namespace, so CAP_NET_BIND_SERVICE cannot work for them there; ports below 1024
    are opened to every uid of the pod instead (its namespace's own sysctl, as rootless
    podman does), so that a server in the pod can still listen on port 80."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        namespace.setns(fd, namespace.CLONE_NEWNET)
    finally:
        os.close(fd)
    netif.link_up("lo")
    if unprivileged_ports:
        apply_sysctls((("net.ipv4.ip_unprivileged_port_start", "0"),))


class _UserHandshake:
    """``--private-users``: the pod's process unshares its user namespace, and this process,
    in the host's, writes its id maps (which the namespace cannot do for itself)."""

    def __init__(self) -> None:
        self.unshared = os.pipe2(os.O_CLOEXEC)
        self.mapped = os.pipe2(os.O_CLOEXEC)

    def child_wait_for_maps(self) -> None:
        os.close(self.unshared[0])
        os.close(self.mapped[1])
        os.write(self.unshared[1], b"1")
        os.close(self.unshared[1])
        if os.read(self.mapped[0], 1) != b"1":
            raise ExecutorError("the user namespace's id maps were not written")
        os.close(self.mapped[0])

    def parent_write_maps(self, child: int, user_range: tuple[int, int]) -> None:
        os.close(self.unshared[1])
        os.close(self.mapped[0])
        try:
            if os.read(self.unshared[0], 1) == b"1":
                id_map = namespace.IdMap(*user_range)
                namespace.write_id_maps(child, id_map, id_map)
                os.write(self.mapped[1], b"1")
        finally:
            os.close(self.unshared[0])
            os.close(self.mapped[1])


def _pod_process(
    plan: PodPlan,
    pod_dir: str,
    report: int,
    netns: str = "",
    handshake: _UserHandshake | None = None,
    network_ready: int | None = None,
) -> None:
    """The forked child: new namespaces (the pod's netns joined if given), then PID 1. Never
    returns. The netns exists before stage0 ADDs to it; ``network_ready`` is for PID 1.

    With a user namespace, this process and PID 1 keep the host's uid 0 inside it (shown there
    as the overflow id): all the namespace's capabilities, which the mounts need, and the pod
    directory's files, which are root's, stay theirs. Only the apps become the namespace's ids
    (rkt.stage1.executor), whose host ids are the pod's range."""
    code = FAILURE
    try:
        # Inherited by PID 1, which the apps can see (SECURITY.md 9).
        process.set_dumpable(False)
        for signum in _FORWARDED:
            # Ours to ignore: the outer process forwards them to PID 1, which must outlive us.
            signal.signal(signum, signal.SIG_IGN)
        flags = 0
        for name in plan.namespaces:
            flags |= _NAMESPACES[name]
        if netns:
            _join_netns(netns, unprivileged_ports=handshake is not None)
            flags &= ~namespace.CLONE_NEWNET
        if handshake is not None and plan.user_range is not None:
            # A mount namespace of the host's user namespace first, for what the one made with
            # the user namespace below (a copy of it) cannot create (prepare_mounts).
            namespace.unshare(namespace.CLONE_NEWNS)
            mount.make_rprivate("/")
            kernel = RealKernel()
            for app in plan.apps:
                prepare_mounts(app, kernel, plan.user_range[0])
        namespace.unshare(flags)
        if handshake is not None:
            handshake.child_wait_for_maps()
        mount.make_rprivate("/")
        pid = os.fork()
        if pid == 0:
            os.close(report)
            _pid1(plan, pod_dir, network_ready)
        if network_ready is not None:
            os.close(network_ready)
        write_atomically(
            os.path.join(pod_dir, layout.PID), f"{pid}\n".encode(), 0o644, durable=False
        )
        os.write(report, str(pid).encode())
        os.close(report)
        _, status = os.waitpid(pid, 0)
        code = supervisor.exit_code(status)
    except BaseException as err:
        print(f"stage1: cannot create the pod: {err}", file=sys.stderr, flush=True)
    finally:
        os._exit(code)


def _pid1(plan: PodPlan, pod_dir: str, network_ready: int | None) -> None:
    code = FAILURE
    try:
        code = supervisor.run(plan, pod_dir, RealKernel(), network_ready=network_ready)
    except BaseException as err:
        print(f"stage1: pod supervisor failed: {err}", file=sys.stderr, flush=True)
    finally:
        sys.stderr.flush()
        os._exit(code)


class _Forwarder:
    """Signals to the outer process go to PID 1 once its pid is known; earlier ones wait."""

    def __init__(self) -> None:
        self.pid1: int | None = None
        self.pending: list[int] = []

    def handle(self, signum: int, frame: FrameType | None) -> None:
        if self.pid1 is None:
            self.pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid1, signum)

    def known(self, pid: int) -> None:
        self.pid1 = pid
        for signum in self.pending:
            self.handle(signum, None)
        self.pending.clear()


def _setup_cgroups(plan: PodPlan, pod_dir: str, joining: cgroup.Joining) -> None:
    """The pod's cgroup (``rkt/<uuid>``) and its apps', limits written and recorded for the
    supervisor, status and gc. The helper of ``joining`` made the pod's cgroup and moved this
    process into its supervisor leaf, so PID 1 and every app (each moved on to its own leaf
    before it execs) are inside the pod's cgroup."""
    apps = {app.name: cgroup.Limits(**msgspec.structs.asdict(app.limits)) for app in plan.apps}
    pod = joining.wait()
    if pod is None:
        if any(apps.values()):
            raise cgroup.CgroupError(errno.ENODEV, joining.unavailable)
        return  # No cgroups on this host, and no app asked for a limit.
    pod_limits = cgroup.Limits(**msgspec.structs.asdict(plan.limits))
    cgroup.save(cgroup.finish_pod(pod, pod_limits, apps), pod_dir)


def execute(
    plan: PodPlan,
    pod_dir: str,
    joining: cgroup.Joining,
    *,
    debug: bool = False,
    netns: str = "",
    network_ready: int | None = None,
) -> int:
    """Start the pod and wait for it; its status. ``network_ready`` goes down to PID 1."""
    try:
        prepare_pod_files(plan.files, plan.volumes)
        _record_unenforced(plan, pod_dir, debug)
        _setup_cgroups(plan, pod_dir, joining)
    except BaseException:
        _drop_cgroup(joining)  # nothing of the pod runs yet
        raise
    forwarder = _Forwarder()
    for signum in _FORWARDED:
        signal.signal(signum, forwarder.handle)
    read, write = os.pipe2(os.O_CLOEXEC)
    handshake = _UserHandshake() if plan.user_range is not None else None
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        os.close(read)
        _pod_process(plan, pod_dir, write, netns, handshake, network_ready)
    os.close(write)
    if network_ready is not None:
        os.close(network_ready)  # PID 1's to read
    if handshake is not None and plan.user_range is not None:
        handshake.parent_write_maps(child, plan.user_range)
    data = b""
    while chunk := os.read(read, 64):
        data += chunk
    os.close(read)
    if data:
        forwarder.known(int(data))
        _register_machine(pod_dir, int(data))
    _, status = os.waitpid(child, 0)
    return supervisor.exit_code(status)


def _register_machine(pod_dir: str, pid1: int) -> None:
    """Under systemd, a pod in a scope of its own becomes machine ``rkt-<uuid>``
    (rkt.stage1.machine). Not one in a delegating unit's subtree: machined stops the unit of a
    machine whose leader has exited, which would stop the unit that ran ``rkt run``."""
    pod = cgroup.load(pod_dir)
    if pod is None or not pod.unit:
        return
    from rkt.stage1.machine import register

    problem = register(pod_dir, pid1)
    if problem:
        print(f"stage1: warning: not registered with systemd-machined: {problem}", file=sys.stderr)


def run(
    pod_dir: str,
    joining: cgroup.Joining,
    *,
    debug: bool,
    interactive: bool,
    network_ready: int | None = None,
) -> int:
    """Plan the pod and execute the plan; the pod's status, or 254 (a line on stderr).

    ``network_ready``: stage0 is ADDing the pod's networks (see rkt.stage1.run.main). Unless
    the plan needs their results (DNS), the pod is planned and started meanwhile and its PID 1
    waits for them before the apps (supervisor.wait_for_networks); else we wait here first."""
    try:
        lock_fd()
        loaded = load(pod_dir, interactive=interactive, networks_up=network_ready is None)
        if loaded.needs_networks and network_ready is not None:
            up = supervisor.wait_for_networks(network_ready)
            network_ready = None
            if not up:
                return _abandon(joining, "")  # stage0 says what failed
            loaded = load(pod_dir, interactive=interactive)
        plan = plan_pod(loaded.input)
    except (LoadError, ValueError, OSError) as err:
        return _abandon(joining, str(err))
    except PlanError as err:
        return _abandon(joining, err.message + (f" ({err.hint})" if err.hint else ""))
    if debug:
        for app in plan.apps:
            for line in app.describe_mounts():
                print(f"stage1: {app.name}: {line}", file=sys.stderr)
    try:
        return execute(
            plan, pod_dir, joining, debug=debug, netns=loaded.netns, network_ready=network_ready
        )
    except (ExecutorError, OSError) as err:
        return _fail(str(err))


def _abandon(joining: cgroup.Joining, message: str) -> int:
    """Give up before the pod starts (see :func:`_drop_cgroup`); 254."""
    _drop_cgroup(joining)
    return _fail(message) if message else FAILURE


def _drop_cgroup(joining: cgroup.Joining) -> None:
    """Out of the cgroup the helper made (and moved us into), and remove it: a pod that never
    started may be in a directory gc never sees (one stage1 could not read)."""
    with contextlib.suppress(OSError):
        pod = joining.wait()
        if pod is not None and cgroup.leave(pod):  # else a scope: it goes as we exit
            cgroup.remove(pod, timeout=0)
