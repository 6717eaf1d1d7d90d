"""Starting a pod: plan it, set it up, start its compiled PID 1, and become its monitor.

The process that calls :func:`run` (``rkt run``'s, or ``python -m rkt.stage1.executor.run``)
plans the pod, writes its files and cgroups, and forks the pod's first process, which

- joins or makes the pod's namespaces (the network's first, a user namespace first of the
  others with ``--private-users``), moves into the pod's supervisor cgroup, and forks the
  pod's PID 1;
- exits, so that PID 1 becomes a child of the caller (a child subreaper).

PID 1 starts in Python as a fork: it makes each app's mounts in its mount namespace (resolved
inside each app's root, rkt.linux.lookup), sets the hostname, waits for the pod's networks
(stage0 ADDs them meanwhile) and applies the pod's sysctls, opens what the compiled side needs
(the status directory, each app's cgroup.procs and OOM counter) and execs ``rkt-stage1 init``
from a sealed copy of the program (docs/security.md 9) with the plan (rkt.stage1.executor.planfile).
The caller then execs ``rkt-stage1 monitor``: no Python stays while the pod runs.

Signals: SIGTERM, SIGINT, SIGHUP (and SIGCHLD, SIGWINCH) are blocked from before the first fork
until the compiled programs read them from a signalfd, so a stop sent at any moment is pending,
never lost: PID 1 starts no app once it has seen one (status 128 + the signal).

``--interactive``: the app's terminal is a new pty (its /dev/console); the monitor relays it to
the caller's terminal (docs/security.md 12).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import signal
import sys
from collections.abc import Callable

from rkt.atomicfile import write_atomically
from rkt.errors import Stage1Error
from rkt.linux import cgroup, mount, namespace, netif, notify, process
from rkt.linux import seccomp as linux_seccomp
from rkt.linux.kernel import Kernel, RealKernel
from rkt.linux.mount import Bind
from rkt.pod import layout
from rkt.stage1.executor import monitor, planfile
from rkt.stage1.executor import streams as app_streams
from rkt.stage1.executor.setup import (
    ExecutorError,
    apply_mounts,
    apply_sysctls,
    build_filter,
    prepare_mounts,
    prepare_pod_files,
)
from rkt.stage1.interface import LOCK_FD_ENV
from rkt.stage1.planner import isolator_report, seccomp_groups
from rkt.stage1.planner.load import load
from rkt.stage1.planner.plan import AppPlan, PlanError, PodPlan
from rkt.stage1.planner.pod import plan_pod

FAILURE = 254
#: Isolators this executor could not enforce, per app; ace.md requires that they be reported.
UNENFORCED = layout.UNENFORCED_REPORT
#: Every isolator of each app (and of the pod) with its status (rkt.stage1.planner
#: .isolator_report); ``rkt status`` summarises it.
ISOLATORS = isolator_report.REPORT
#: Each app's resolved seccomp filter, ``<app>.json`` (seccomp_groups.Filter.to_json), for enter.
SECCOMP_DIR = layout.SECCOMP_DIR
#: Where an app the OOM killer killed in gets a note (``rkt status``'s app-NAME-oom).
OOM_DIR = layout.OOM_DIR
_NAMESPACES = {
    "user": namespace.CLONE_NEWUSER,
    "mount": namespace.CLONE_NEWNS,
    "uts": namespace.CLONE_NEWUTS,
    "ipc": namespace.CLONE_NEWIPC,
    "pid": namespace.CLONE_NEWPID,
    "net": namespace.CLONE_NEWNET,
}
#: Held blocked from the first fork on; the compiled side reads them from a signalfd.
BLOCKED = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGCHLD, signal.SIGWINCH)


def _fail(message: str) -> int:
    print(f"stage1: {message}", file=sys.stderr, flush=True)
    return FAILURE


# --- what is written before the pod starts ---------------------------------------------------


def _record_isolators(plan: PodPlan, pod_dir: str, debug: bool) -> dict[str, list[bytes]]:
    """ace.md: which isolators are enforced and which ignored (ISOLATORS), the names of the
    ignored ones (UNENFORCED); each app's resolved seccomp filter, kept in SECCOMP_DIR for
    enter, which installs the same filter. The apps' filters as BPF, for rkt-stage1."""
    unenforced: dict[str, list[str]] = {}
    report: dict[str, list[dict[str, str]]] = {}
    programs: dict[str, list[bytes]] = {}
    for app in plan.apps:
        programs[app.name] = _save_filter(app, pod_dir, debug)
        report[app.name] = isolator_report.to_json(app.isolators)
        ignored = [s.name for s in app.isolators if s.status == isolator_report.IGNORED]
        if ignored:
            unenforced[app.name] = ignored
    for name, content in ((UNENFORCED, unenforced), (ISOLATORS, report)):
        path = os.path.join(pod_dir, name)
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        content_bytes = json.dumps(content, sort_keys=True).encode() + b"\n"
        write_atomically(path, content_bytes, 0o644, durable=False)
    return programs


def _save_filter(app: AppPlan, pod_dir: str, debug: bool) -> list[bytes]:
    try:
        resolved = seccomp_groups.resolve(app.seccomp)
    except PlanError as err:
        raise ExecutorError(f'app "{app.name}": {err}') from err
    directory = os.path.join(pod_dir, SECCOMP_DIR)
    os.makedirs(directory, mode=0o755, exist_ok=True)
    path = os.path.join(directory, f"{app.name}.json")
    if resolved is None:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        return []
    content = json.dumps(resolved.to_json(), sort_keys=True).encode() + b"\n"
    write_atomically(path, content, 0o644, durable=False)
    built = build_filter(resolved)
    if built is None:
        return []
    if debug and built.skipped:
        names = ", ".join(built.skipped)
        print(f"stage1: {app.name}: seccomp: not on this architecture: {names}", file=sys.stderr)
    return [f.export() for f in built.filters]


def _place_cgroups(plan: PodPlan, pod_dir: str, first: int) -> cgroup.PodCgroups | None:
    """The pod's cgroups where they belong (rkt.linux.placement: a systemd scope, a delegated
    subtree, or our own), the pod's first process ``first`` moved into its runtime leaf, one
    leaf per app, limits written and recorded for status and gc; None on a host without
    cgroups when no app asked for a limit."""
    apps = {app.name: app.limits for app in plan.apps}
    try:
        host = cgroup.host_layout()
    except OSError as err:
        if any(apps.values()):
            raise cgroup.CgroupError(errno.ENODEV, f"no cgroups to enforce limits: {err}") from err
        return None
    from rkt.linux.placement import place_pod  # with the D-Bus client: only when placing
    from rkt.stage1.executor.machine import cgroup_names

    names = cgroup_names(os.path.basename(pod_dir.rstrip("/")))
    record = os.path.join(pod_dir, layout.CGROUP_RECORD)
    placed = place_pod(host, names, first, created=lambda pod: cgroup.save(pod, record))
    made = cgroup.finish_pod(placed, plan.limits, apps)
    cgroup.save(made, record)
    return made


# --- the pod's processes -------------------------------------------------------------------


def _join_netns(path: str, kernel: Kernel, *, unprivileged_ports: bool = False) -> None:
    """Enter the network namespace stage0 made for the pod's CNI networks; bring ``lo`` up.

    ``unprivileged_ports``: the pod's apps will be in a user namespace that does not own this
    network namespace, so CAP_NET_BIND_SERVICE cannot work for them there; ports below 1024
    are opened to every uid of the pod instead (its namespace's own sysctl, as rootless
    podman does), so that a server in the pod can still listen on port 80."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        kernel.setns(fd, namespace.CLONE_NEWNET)
    finally:
        os.close(fd)
    netif.link_up("lo")
    if unprivileged_ports:
        apply_sysctls((("net.ipv4.ip_unprivileged_port_start", "0"),))


class _Pipe:
    def __init__(self) -> None:
        self.read, self.write = os.pipe2(os.O_CLOEXEC)

    def close(self) -> None:
        for fd in (self.read, self.write):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.read = self.write = -1

    def close_end(self, end: str) -> None:
        fd = getattr(self, end)
        if fd >= 0:
            setattr(self, end, -1)
            os.close(fd)


class Start:
    """Everything the pod's first processes need, made by the caller before it forks."""

    def __init__(
        self,
        plan: PodPlan,
        pod_dir: str,
        filters: dict[str, list[bytes]],
        *,
        netns: str,
        console: str | None,
        networks: bool,
        kernel: Kernel,
    ) -> None:
        self.plan = plan
        self.pod_dir = pod_dir
        self.kernel = kernel  # the first process's and PID 1's calls go through it
        self.cgroups: cgroup.PodCgroups | None = None  # placed once the first process exists
        self.filters = filters
        self.netns = netns
        self.console = console
        self.report = _Pipe()  # the first process tells PID 1's host pid
        self.placed = _Pipe()  # the first process is in the pod's cgroups (or there are none)
        # sd_notify: a socket per app that speaks it (bound into its root), and a pipe on which
        # PID 1 tells the monitor the pod is ready, for systemd (rkt.stage1.planner
        # .systemd_units); the listeners exist before PID 1 binds them.
        self.notify = {app.name: _notify_listener(pod_dir, app.name)
                       for app in plan.apps if app.notify}  # fmt: skip
        outer = os.environ.get("NOTIFY_SOCKET", "")
        self.ready_pipe = _Pipe() if self.notify or outer else None
        self.notify_socket = outer
        # The apps' standard streams (rkt.stage1.executor.streams), but the console's and the
        # journal's (made by PID 1, in the pod's cgroup).
        self.streams: dict[str, app_streams.AppStreams] = {}
        try:
            for app in plan.apps:
                if not (planfile.is_interactive(app) or app.journal):
                    self.streams[app.name] = app_streams.make(app, pod_dir)
        except BaseException:
            self.close()
            self.close_streams()
            raise
        #: rkt run --detach: PID 1 writes a byte here once every app has started
        self.started: int = -1
        self.ready = _Pipe() if networks else None  # stage0 tells the networks are up
        self.unshared = _Pipe() if plan.user_range else None  # the user namespace exists
        self.mapped = _Pipe() if plan.user_range else None  # its id maps are written
        self.program = process.sealed_copy(planfile.program(), "rkt-stage1")

    def close(self) -> None:
        for pipe in (self.report, self.ready, self.unshared, self.mapped, self.placed):
            if pipe is not None:
                pipe.close()
        for listener in self.notify.values():
            listener.close()
        for made in getattr(self, "streams", {}).values():
            made.close_app_ends()  # the monitor's ends go on to it (or with close_streams)

    def close_streams(self) -> None:
        for made in self.streams.values():
            made.close()
        with contextlib.suppress(OSError):
            os.close(self.program)

    # The pod's first process: namespaces and cgroup, then PID 1. Never returns.

    def first_process(self) -> None:
        code = FAILURE
        try:
            # Not dumpable: inherited by PID 1 until it execs (docs/security.md 9).
            self.kernel.set_dumpable(False)
            os.close(self.placed.write)
            if os.read(self.placed.read, 1) != b"1":
                os._exit(FAILURE)  # the caller could not place the pod's cgroups: it says why
            # Placed meanwhile, by the caller.
            self.cgroups = cgroup.load(os.path.join(self.pod_dir, layout.CGROUP_RECORD))
            _make_namespaces(self.plan, self.netns, self.kernel, self._wait_for_id_maps)
            pid = os.fork()
            if pid == 0:
                self.pid1()
            os.write(self.report.write, str(pid).encode())
            code = 0
        except BaseException as err:
            print(f"stage1: cannot create the pod: {err}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)

    def _wait_for_id_maps(self) -> None:
        """With a user namespace: tell the caller it exists and wait until the caller has
        written its id maps (mapping a range takes CAP_SETUID outside the namespace)."""
        if self.unshared is not None and self.mapped is not None:
            os.write(self.unshared.write, b"1")
            if os.read(self.mapped.read, 1) != b"1":
                raise ExecutorError("the user namespace's id maps were not written")

    def pid1(self) -> None:
        """PID 1 until it execs rkt-stage1 init. Never returns."""
        code = FAILURE
        try:
            plan, kernel = self.plan, self.kernel
            ttys = {name: made.app[0] for name, made in self.streams.items() if made.ctty}
            _mount_apps(plan, kernel, console=self.console, ttys=ttys)
            if self.ready is not None:
                os.close(self.ready.write)
                if os.read(self.ready.read, 1) != b"1":
                    os._exit(FAILURE)  # a failed ADD: stage0 says what failed
            apply_sysctls(plan.sysctls)
            plan_fd = self._write_init_plan()
            if plan.user_range is not None:
                _keep_capabilities_across_exec(kernel)
            lock = os.environ.get(LOCK_FD_ENV)
            if lock:
                # PID 1 holds the pod's lock too, so that the pod reads as running for as long
                # as anything of it runs, also if its monitor is killed; apps do not get it.
                os.set_inheritable(int(lock), True)
            os.execve(self.program, ["rkt-stage1", "init", str(plan_fd)], dict(os.environ))
        except BaseException as err:
            print(f"stage1: cannot start the pod: {err}", file=sys.stderr, flush=True)
        finally:
            os._exit(code)

    def _write_init_plan(self) -> int:
        """The init plan in a memfd (it can outgrow a pipe's buffer), every fd it names open
        and inheritable; the memfd's number."""

        def keep(fd: int) -> int:
            os.set_inheritable(fd, True)
            return fd

        stage1_root = os.path.join(self.pod_dir, layout.STAGE1_ROOTFS)
        kernel = self.kernel
        namespaces = {app.name: keep(_app_namespace(app.root, kernel)) for app in self.plan.apps}
        status_dir = layout.status_dir(stage1_root)
        rkt_dir, ready_link = os.path.split(layout.supervisor_status(stage1_root))
        os.makedirs(status_dir, mode=0o755, exist_ok=True)
        oom_dir = os.path.join(self.pod_dir, OOM_DIR)
        os.makedirs(oom_dir, mode=0o755, exist_ok=True)
        directory = os.O_RDONLY | os.O_DIRECTORY
        plan = planfile.Plan("init")
        plan.add("pivot", stage1_root)  # any directory: an empty tmpfs goes over it
        plan.add("rkt-dir", keep(os.open(rkt_dir, directory)))
        plan.add("ready-link", ready_link)
        plan.add("status-dir", keep(os.open(status_dir, directory)))
        plan.add("oom-dir", keep(os.open(oom_dir, directory)))
        plan.add("last-cap", kernel.last_cap())
        if self.ready_pipe is not None:
            plan.add("ready-pipe", keep(self.ready_pipe.write))
        if self.started >= 0:
            plan.add("started-pipe", keep(self.started))
        for app in self.plan.apps:
            cgroup_fds: list[int] = []
            oom_fd = None
            if self.cgroups is not None:
                cgroup_fds = [keep(os.open(p, os.O_WRONLY)) for p in self.cgroups.procs(app.name)]
                counter = cgroup.oom_counter(self.cgroups, app.name)
                if counter is not None:
                    with contextlib.suppress(OSError):
                        oom_fd = keep(os.open(counter, os.O_RDONLY))
            planfile.add_app(
                plan,
                app,
                mntns=namespaces[app.name],
                filters=self.filters.get(app.name, []),
                cgroup_fds=cgroup_fds,
                oom_fd=oom_fd,
            )
            made = self.streams.get(app.name)
            if made is not None:
                plan.add("stdio", *(keep(fd) for fd in made.app))
                if made.ctty:
                    plan.add("console", 1)
            elif app.journal:
                # Its own journal streams, made here in the pod's cgroup: journald files the
                # lines under the pod's unit, tagged with the app's name.
                from rkt.linux import journal

                unit = self.cgroups.unit if self.cgroups is not None else ""
                out, err = (keep(journal.stream(app.name, p, unit=unit))
                            for p in (journal.INFO, journal.ERR))  # fmt: skip
                plan.add("stdio", -1, out, err)
            for fd, _ in app.listen_fds:
                plan.add("listen", keep(fd))
            if app.listen_fds:
                plan.add("listen-names", ":".join(name for _, name in app.listen_fds))
            if app.name in self.notify:
                plan.add("notify", keep(self.notify[app.name].fileno()))
        fd = os.memfd_create("rkt-stage1-plan", 0)
        os.write(fd, plan.to_bytes())
        os.lseek(fd, 0, os.SEEK_SET)
        return fd


def _make_namespaces(
    plan: PodPlan, netns: str, kernel: Kernel, wait_for_id_maps: Callable[[], None]
) -> None:
    """The first process's part: join the CNI netns stage0 made (``netns``, when there is one)
    and make the plan's other namespaces; with a user namespace, the mounts it could not make
    first (prepare_mounts) and ``wait_for_id_maps`` once it exists. The mounts of the new mount
    namespace are private: nothing the pod mounts reaches the host."""
    flags = 0
    for name in plan.namespaces:
        flags |= _NAMESPACES[name]
    if netns:
        _join_netns(netns, kernel, unprivileged_ports=plan.user_range is not None)
        flags &= ~namespace.CLONE_NEWNET
    if plan.user_range is not None:
        # A mount namespace of the host's user namespace first, for what the one made with
        # the user namespace below (a copy of it) cannot create (prepare_mounts).
        kernel.unshare(namespace.CLONE_NEWNS)
        kernel.make_rprivate("/")
        for app in plan.apps:
            prepare_mounts(app, kernel, plan.user_range[0])
    kernel.unshare(flags)
    wait_for_id_maps()
    kernel.make_rprivate("/")


def _mount_apps(
    plan: PodPlan, kernel: Kernel, *, console: str | None, ttys: dict[str, int]
) -> None:
    """PID 1's part, in the pod's namespaces: each app's mounts inside its root (``console``:
    the pod's pty, ``--interactive``; ``ttys``: the pty fd of each app on one of its own,
    which becomes its /dev/console), then the pod's hostname."""
    for app in plan.apps:
        apply_mounts(app, kernel, prepared=plan.user_range is not None, console=console)
        if app.name in ttys:
            # A tty app's own pty is its /dev/console, as --interactive's app's is.
            tty = os.ttyname(ttys[app.name])
            Bind(tty, "/dev/console", kind="file", recursive=False).apply(kernel, app.root)
    kernel.sethostname(plan.hostname)


def _keep_capabilities_across_exec(kernel: Kernel) -> None:
    """``--private-users``: PID 1 keeps the host's uid 0, which the pod's user namespace does
    not map (the pod directory's files stay its own), so execve(2) would take its capabilities
    there away (it is not the namespace's root); raised as ambient capabilities, they stay."""
    effective, permitted, _ = kernel.capget()
    kernel.capset(effective, permitted, permitted)
    for number in range(kernel.last_cap() + 1):
        if permitted >> number & 1:
            kernel.ambient_raise(number)


def _app_namespace(root: str, kernel: Kernel) -> int:
    """A mount namespace for the app, pivoted into ``root`` (made with its mounts in ours) with
    our root detached from it; an fd of it. The caller stays in its own namespace."""
    ours = os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
    try:
        kernel.unshare(namespace.CLONE_NEWNS)
        try:
            kernel.make_rprivate("/")
            kernel.chdir(root)
            # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves
            # only the app's root (man 2 pivot_root).
            kernel.pivot_root(".", ".")
            kernel.umount2(".", mount.MNT_DETACH)
            kernel.chdir("/")
            return os.open("/proc/self/ns/mnt", os.O_RDONLY | os.O_CLOEXEC)
        finally:
            kernel.setns(ours, namespace.CLONE_NEWNS)
    finally:
        os.close(ours)


def _block_signals() -> None:
    signal.pthread_sigmask(signal.SIG_BLOCK, BLOCKED)


def start(
    plan: PodPlan,
    pod_dir: str,
    *,
    debug: bool = False,
    netns: str = "",
    interactive: bool = False,
    network: Callable[[], None] | None = None,
    teardown: list[str] | None = None,
    detach: bool = False,
    log_max: int = app_streams.DEFAULT_LOG_MAX,
    kernel: Kernel,
) -> int:
    """Start the pod and exec its monitor; returns only when it could not (254, said on
    stderr). ``network`` ADDs the pod's networks while its first processes start;
    ``teardown`` is what the monitor execs once the pod is gone (with ``--status=N``).
    ``detach``: the monitor goes on in a session of its own and this returns 0 once every
    app has started (rkt run --detach). ``log_max``: a log's size before it is rotated.
    ``kernel``: what the pod's setup calls (and the caller's own subreaper switch)."""
    try:
        prepare_pod_files(plan.files, plan.volumes)
        filters = _record_isolators(plan, pod_dir, debug)
    except (ExecutorError, OSError) as err:
        return _fail(str(err))
    started = -1
    if detach:
        started = monitor.detach(pod_dir)
        if started < 0:
            return -started - 1  # the caller's side: the pod's start, as 0 or 254
    pty = os.openpty() if interactive else None
    if pty is not None:
        # Its size before the app can ask for it (the monitor follows changes later).
        from rkt.linux import tty

        with contextlib.suppress(OSError):
            tty.set_window_size(pty[0], *tty.get_window_size(0))
    try:
        console = os.ttyname(pty[1]) if pty is not None else None
        state = Start(plan, pod_dir, filters, netns=netns, console=console,
                      networks=network is not None, kernel=kernel)  # fmt: skip
        state.started = started
    except OSError as err:
        return _fail(f"cannot start the pod: {err}")
    _block_signals()
    kernel.set_child_subreaper(True)
    sys.stdout.flush()
    sys.stderr.flush()
    child = os.fork()
    if child == 0:
        state.first_process()
    failed: BaseException | None = None
    for made in state.streams.values():
        made.close_app_ends()
    if started >= 0:
        os.close(started)
        state.started = -1
    # The ends that are the pod's: kept open here, a pipe would never tell us it died.
    for pipe, end in ((state.unshared, "write"), (state.mapped, "read"), (state.ready, "read"),
                      (state.report, "write"), (state.placed, "read")):  # fmt: skip
        if pipe is not None:
            pipe.close_end(end)
    cgroups = None
    try:
        try:
            cgroups = state.cgroups = _place_cgroups(plan, pod_dir, child)
            os.write(state.placed.write, b"1")
        except OSError as err:
            failed = ExecutorError(str(err))
        finally:
            state.placed.close_end("write")
        unshared, mapped = state.unshared, state.mapped
        if unshared and mapped and plan.user_range and os.read(unshared.read, 1) == b"1":
            id_map = namespace.IdMap(*plan.user_range)
            kernel.write_id_maps(child, id_map, id_map)
            os.write(mapped.write, b"1")
        if network is not None and state.ready is not None and failed is None:
            try:
                network()
                os.write(state.ready.write, b"1")
            except BrokenPipeError:
                pass  # PID 1 is gone already: its status tells
            except BaseException as err:  # PID 1 gives up quietly; the caller says why
                failed = err
            finally:
                state.ready.close_end("write")
        data = b""
        while chunk := os.read(state.report.read, 64):
            data += chunk
        os.waitpid(child, 0)
    finally:
        state.close()
    if failed is not None or not data:
        # Nothing of the pod runs or will: wait for PID 1 (ours, as a child subreaper) to have
        # exited, and take its cgroups away; the caller tears the networks down.
        with contextlib.suppress(ChildProcessError):
            while True:
                os.wait()
        _drop_cgroups(cgroups)
        state.close_streams()
        kernel.set_child_subreaper(False)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, BLOCKED)
        if isinstance(failed, ExecutorError):
            return _fail(str(failed))
        if failed is not None:
            raise failed
        return FAILURE  # the first process said why
    pid1 = int(data)
    write_atomically(os.path.join(pod_dir, layout.PID), f"{pid1}\n".encode(), 0o644,
                     durable=False)  # fmt: skip
    if cgroups is not None and cgroups.unit:
        _register_machine(pod_dir, pid1)
    streams = {name: (made.out, made.err, made.tty, made.inp, made.listen)
               for name, made in state.streams.items()}  # fmt: skip
    ready = state.ready_pipe.read if state.ready_pipe is not None else -1
    monitor.exec_monitor(pid1, pty, teardown, state.pod_dir, streams, ready, state.notify_socket,
                         copy=not detach, log_max=log_max)  # fmt: skip
    return FAILURE  # not reached


def _register_machine(pod_dir: str, pid1: int) -> None:
    """Under systemd, a pod in a scope of its own becomes machine ``rkt-<uuid>``
    (rkt.stage1.executor.machine). Not one in a delegating unit's subtree: machined stops the
    unit of a machine whose leader has exited, which would stop the unit that ran ``rkt run``."""
    from rkt.stage1.executor.machine import register

    problem = register(pod_dir, pid1)
    if problem:
        print(f"stage1: warning: not registered with systemd-machined: {problem}", file=sys.stderr)


def _drop_cgroups(cgroups: cgroup.PodCgroups | None) -> None:
    """Remove the cgroups of a pod that never started: it may be in a directory gc never sees
    (a systemd scope goes by itself with its last process)."""
    if cgroups is not None and not cgroups.unit:
        with contextlib.suppress(OSError):
            cgroup.remove(cgroups, timeout=0)


def _notify_listener(pod_dir: str, app: str) -> notify.Listener:
    from rkt.stage1.planner.systemd_units import NOTIFY_DIR, notify_socket

    os.makedirs(os.path.join(pod_dir, NOTIFY_DIR), mode=0o755, exist_ok=True)
    return notify.Listener(notify_socket(pod_dir, app))


def run(
    pod_dir: str,
    *,
    debug: bool,
    interactive: bool,
    network: Callable[[], None] | None = None,
    teardown: list[str] | None = None,
    detach: bool = False,
    log_max: int = app_streams.DEFAULT_LOG_MAX,
    kernel: Kernel | None = None,
) -> int:
    """Plan the pod and start it (:func:`start`); 254 (a line on stderr) when it cannot.

    ``network``: stage0 ADDs the pod's networks (into ``<pod>/netns``, which exists) while the
    pod's first processes start; unless the plan needs their results (DNS), in which case they
    are ADDed first. ``kernel``: what performs the pod's setup (a RealKernel by default)."""
    try:
        loaded = load(pod_dir, interactive=interactive, networks_up=network is None)
        if loaded.needs_networks and network is not None:
            network()
            network = None
            loaded = load(pod_dir, interactive=interactive)
        plan = plan_pod(loaded.input)
    except (Stage1Error, ValueError, OSError) as err:  # LoadError, PlanError
        return _fail(str(err))
    if debug:
        for app in plan.apps:
            for line in app.describe_mounts():
                print(f"stage1: {app.name}: {line}", file=sys.stderr)
    try:
        return start(plan, pod_dir, debug=debug, netns=loaded.netns, interactive=interactive,
                     network=network, teardown=teardown, detach=detach, log_max=log_max,
                     kernel=kernel if kernel is not None else RealKernel())  # fmt: skip
    except (ExecutorError, OSError, linux_seccomp.SeccompError) as err:
        return _fail(str(err))
