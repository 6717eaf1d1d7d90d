"""Performing an app's plan: its mounts as ``rkt.linux`` operations, then the app process.

Mounts are applied by the pod's PID 1 in the pod's mount namespace, with every target resolved
inside the app's root (``rkt.linux.lookup``; SECURITY.md 7). The app process then gets a mount
namespace of its own and ``pivot_root``s into its root, rather than chroot'ing: the default
capability set keeps CAP_SYS_CHROOT, with which a chroot'ed root app walks out of its chroot.
The old root is detached, so nothing of the host or of the other apps stays reachable.

After the pivot the interpreter's library is outside the root: :func:`exec_app` only calls
functions already imported here and formats no traceback (that would import lazily).

``--interactive`` (a single app): the plan's "console" bind puts stage0's terminal (stage1's
stdin; :func:`operations` refuses without one) on the app's /dev/console. The app process opens
it after the pivot, has it as 0-2 and becomes the terminal's foreground process group
(``rkt.linux.tty.take_foreground``: a group of its own in stage0's session, whose controlling
terminal it is; a session of its own only if stage0 had none): ^C/^Z/^\\ and SIGWINCH reach
the app (and its pre-start handler, which it forks) and no runtime process, which also ignores
SIGTSTP/SIGTTIN/SIGTTOU (stage1's run.py). Same device, no pty relay: see ``rkt.linux.tty``.
``fcntl``/``termios`` are imported (by ``rkt.linux.tty``) at module top: nothing is importable
after the pivot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import signal
from collections.abc import Iterable

import msgspec

from rkt.linux import capability, cgroup, journal, lookup, process, tty
from rkt.linux import mount as linux_mount
from rkt.linux import seccomp as linux_seccomp
from rkt.linux.kernel import Kernel
from rkt.linux.mount import (
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_STRICTATIME,
    Bind,
    Devpts,
    MaskPath,
    Mqueue,
    Operation,
    Proc,
    ReadOnlyPath,
    Sysfs,
    Tmpfs,
)
from rkt.linux.namespace import CLONE_NEWNS, unshare
from rkt.stage1 import seccomp_groups, sysctl
from rkt.stage1.plan import AppPlan, GeneratedFile, Mount, VolumeDirectory

#: The mount options that are flags, not filesystem data.
_FLAG_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "strictatime": MS_STRICTATIME,
}
#: Signals the runtime ignores or handles; execve(2) keeps SIG_IGN, so the app gets them reset.
_RESET_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGALRM,
    signal.SIGCHLD,
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGQUIT,
    # Ignored by the runtime of an interactive pod, which the terminal must not stop.
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
)
#: Where an interactive app finds its terminal, inside its root.
CONSOLE = "/dev/console"


class ExecutorError(Exception):
    """A plan step that cannot be performed (an unsupported mount kind, a bad option)."""


def _split(options: tuple[str, ...]) -> tuple[int, dict[str, str], list[str]]:
    flags = 0
    values: dict[str, str] = {}
    rest: list[str] = []
    for option in options:
        if option in _FLAG_OPTIONS:
            flags |= _FLAG_OPTIONS[option]
        elif "=" in option:
            key, _, value = option.partition("=")
            values[key] = value
        else:
            rest.append(option)
    return flags, values, rest


def _console_source() -> str | None:
    # The pod's terminal is stage1's own stdin; without one there is nothing to bind.
    return os.ttyname(0) if os.isatty(0) else None


def operations(mount: Mount) -> list[Operation]:
    """The ``rkt.linux`` operations for one plan mount (``symlink`` is not one: see apply)."""
    flags, values, rest = _split(mount.options)
    kind = mount.kind
    if kind == "bind":
        source = mount.source
        if "console" in rest:
            console = _console_source()
            if console is None:
                raise ExecutorError("--interactive needs a terminal: stdin is not a tty")
            source = console
        is_file = os.path.exists(source) and not os.path.isdir(source)
        return [
            Bind(
                source,
                mount.target,
                read_only=mount.read_only,
                recursive="rbind" in rest,
                kind="file" if is_file else "dir",
                nodev=bool(flags & MS_NODEV),
            )
        ]
    if kind == "tmpfs":
        mode = int(values.get("mode", "755"), 8)
        return [Tmpfs(mount.target, mode=mode, size=values.get("size"), flags=flags)]
    if kind == "proc":
        return [Proc(mount.target)]
    if kind == "sysfs":
        return [Sysfs(mount.target)]
    if kind == "devpts":
        data = ",".join([*rest, *(f"{k}={v}" for k, v in values.items())])
        return [Devpts(mount.target, data=data)]
    if kind == "mqueue":
        return [Mqueue(mount.target)]
    if kind == "remount-ro":
        return [ReadOnlyPath(mount.target)]
    if kind == "mask":
        return [MaskPath(mount.target)]
    raise ExecutorError(
        f"mount kind {kind!r} is not supported by this executor: {mount.describe()}"
    )


def _symlink(root: str, mount: Mount) -> None:
    """Create the link ``target`` (text ``source``) inside ``root``; its parent is resolved in
    the root, and an existing entry is left alone (a fresh /dev tmpfs has none)."""
    parent, _, name = mount.target.rpartition("/")
    fd = lookup.open_in_root(root, parent, kind="dir", create=True)
    try:
        os.symlink(mount.source, name, dir_fd=fd)
    except FileExistsError:
        pass
    finally:
        os.close(fd)


def is_interactive(app: AppPlan) -> bool:
    """Whether the app gets the pod's terminal (``--interactive``: the plan binds the console)."""
    return any(m.kind == "bind" and "console" in m.options for m in app.mounts)


def _take_console() -> None:
    """In the pivoted app process: the console as 0-2, the app's process group its foreground
    group (see ``rkt.linux.tty``)."""
    fd = os.open(CONSOLE, os.O_RDWR | os.O_NOCTTY | os.O_CLOEXEC)
    tty.take_foreground(fd)
    for target in (0, 1, 2):
        os.dup2(fd, target)
    os.close(fd)


def _done_before(mount: Mount) -> bool:
    """Whether :func:`prepare_mounts` performs ``mount``. Not the bind of the root onto itself:
    a mount made outside the user namespace is locked inside it, and pivot_root(2) refuses a
    locked new root; made in the namespace (with the prepared mounts under it) it is not."""
    return mount.kind in ("tmpfs", "symlink") or (mount.kind == "bind" and mount.target != "")


def prepare_mounts(app: AppPlan, kernel: Kernel, owner: int) -> None:
    """``--private-users``, before the user namespace exists: mount the app's tmpfs (/dev,
    /dev/shm, /tmp; their roots owned by ``owner``, the host id of the pod's root), make its
    symlinks, bind what it binds and make every other mount's target, so that
    :func:`apply_mounts` creates nothing and only mounts the kernel filesystems of the pod's
    namespaces (proc, sysfs, devpts, mqueue) and the masks and read-only remounts over them.

    A filesystem mounted inside a user namespace takes no new file from an id the namespace
    does not map (EOVERFLOW), and PID 1 keeps the host's root, which it does not map, for the
    pod directory's sake. Made out here, these tmpfs belong to the host's namespace; what the
    apps create in them is owned by their host ids, as on any other host filesystem. Binds are
    made here too because inside the user namespace a bind of a mount with submounts must take
    them all (the host's /sys, a host volume)."""
    for mount in app.mounts:
        if mount.kind == "symlink":
            _symlink(app.root, mount)
        elif _done_before(mount):
            for operation in operations(mount):
                if isinstance(operation, Tmpfs):
                    operation = msgspec.structs.replace(operation, owner=owner)
                operation.apply(kernel, app.root)
        elif mount.kind not in ("mask", "remount-ro"):
            for operation in operations(mount):
                kind = operation.kind if isinstance(operation, Bind) else "dir"
                opened = kernel.open_in_root(
                    app.root, mount.target, kind=kind, create=True, reject_symlink=False
                )
                kernel.close(opened.fd)


def apply_mounts(app: AppPlan, kernel: Kernel, *, prepared: bool = False) -> None:
    """Perform the app's mounts in order, inside its root; ``prepared``: but for what
    :func:`prepare_mounts` did."""
    for mount in app.mounts:
        if prepared and _done_before(mount):
            continue
        if mount.kind == "symlink":
            _symlink(app.root, mount)
            continue
        for operation in operations(mount):
            operation.apply(kernel, app.root)


def apply_sysctls(sysctls: tuple[tuple[str, str], ...], proc_sys: str = "/proc/sys") -> None:
    """Write the pod's sysctls (checked as namespaced by the plan). Called in PID 1, which is in
    the pod's namespaces: /proc/sys resolves net, ipc and uts entries by the writing task's
    namespaces, so the writes change the pod's, never the host's."""
    for key, value in sysctls:
        path = os.path.join(proc_sys, sysctl.proc_path(key))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise ExecutorError(f'sysctl "{key}": cannot set "{value}": {err.strerror}') from err


def write_atomically(path: str, content: bytes, mode: int, *, durable: bool = True) -> None:
    """Write ``path`` through a temporary name, so that readers see all of it or none.

    ``durable=False`` skips the fsync, for files that serve only the running pod (generated
    /etc files, its pid, the resolved seccomp filters, the isolator report): a crash of the
    host that could lose them ends the pod too, and their fsyncs were 2-3 ms of every start
    on the bench VM's disk. Records that outlive the pod (exit statuses) stay durable."""
    tmp = f"{path}.tmp{os.getpid()}"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC | os.O_NOFOLLOW, mode)
    try:
        os.write(fd, content)
        os.fchmod(fd, mode)
        if durable:
            os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def prepare_pod_files(files: Iterable[GeneratedFile], volumes: Iterable[VolumeDirectory]) -> None:
    """Generated /etc files and empty-volume directories, before any mount binds them (the
    default flavor's plan and fly's both have them)."""
    for generated in files:
        os.makedirs(os.path.dirname(generated.path), mode=0o755, exist_ok=True)
        write_atomically(generated.path, generated.content.encode(), generated.mode, durable=False)
    for volume in volumes:
        os.makedirs(os.path.dirname(volume.path), mode=0o755, exist_ok=True)
        # One kept from an earlier run of the same pod is reused (rkt keeps empty volumes).
        with contextlib.suppress(FileExistsError):
            os.mkdir(volume.path, volume.mode)
        os.chown(volume.path, volume.uid, volume.gid, follow_symlinks=False)
        os.chmod(volume.path, volume.mode, follow_symlinks=False)


def _pivot(root: str) -> None:
    # A mount namespace of the app's own: the pivot and the detach of the old root must not
    # change what the supervisor and the other apps see.
    unshare(CLONE_NEWNS)
    linux_mount.make_rprivate("/")
    os.chdir(root)
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the
    # new root (man 2 pivot_root).
    linux_mount.pivot_root(".", ".")
    linux_mount.umount2(".", linux_mount.MNT_DETACH)
    os.chdir("/")


def build_filter(resolved: seccomp_groups.Filter | None) -> linux_seccomp.Filter | None:
    """The libseccomp filter of a resolved one, built but not loaded; None for none."""
    if resolved is None:
        return None
    Action = linux_seccomp.Action
    blocked = Action.fail(resolved.errno_number) if resolved.errno else Action.kill()
    if resolved.mode == "retain":
        return linux_seccomp.build(blocked, ((name, Action.allow()) for name in resolved.syscalls))
    return linux_seccomp.build(Action.allow(), ((name, blocked) for name in resolved.syscalls))


def app_filter(app: AppPlan) -> linux_seccomp.Filter | None:
    """The app's planned filter, built (libseccomp loaded) but not yet loaded into the kernel."""
    try:
        resolved = seccomp_groups.resolve(app.seccomp)
    except seccomp_groups.SeccompError as err:
        raise ExecutorError(f'app "{app.name}": {err}') from err
    return build_filter(resolved)


def _reduce_capabilities(app: AppPlan, early: linux_seccomp.Filter | None = None) -> None:
    """The five sets as planned. Bounding first (needs CAP_SETPCAP), ids next (need CAP_SETUID
    and CAP_SETGID; a non-root uid loses permitted and effective there), then capset.

    ``early`` is loaded between the ids and capset: a filter for an app without no_new_privs,
    which seccomp(2) only takes from a task with CAP_SYS_ADMIN (a root app before capset; as
    runc does, the filter then applies to capset and the rest of the start too)."""
    # In a user namespace (--private-users) the runtime is the host's root, which is no id
    # there: become the namespace's root first, so that the switch to the app's ids below
    # follows the usual rules (a non-root app loses permitted and effective). Without a user
    # namespace we are root already and nothing changes.
    process.set_ids(0, 0)
    caps = app.capabilities
    numbers = capability.NUMBERS
    keep_bounding = {numbers[name] for name in caps.bounding}
    capability.ambient_clear()
    for number in range(capability.last_cap() + 1):
        if number not in keep_bounding:
            capability.bounding_drop(number)
    process.set_ids(app.uid, app.gid, app.supplementary_gids)
    if early is not None:
        early.load()
    capability.capset(
        capability.mask(numbers[n] for n in caps.effective),
        capability.mask(numbers[n] for n in caps.permitted),
        capability.mask(numbers[n] for n in caps.inheritable),
    )
    for name in caps.ambient:
        capability.ambient_raise(numbers[name])


def _status(status: int) -> int:
    # As the supervisor reports it: the exit code, or 128 + the signal that killed it.
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def _run_pre_start(app: AppPlan, report: int) -> int:
    """Fork the app's pre-start handler (the caller is already the app: pivoted, its ids and
    capabilities set) and wait for it; the handler's status. An execve(2) failure of the
    handler is written to ``report``, as the app's own would be, and gives 254."""
    pid = os.fork()
    if pid == 0:
        try:
            os.execve(app.pre_start[0], list(app.pre_start), app.env())
        except BaseException as err:
            message = f'app "{app.name}": cannot start pre-start handler {app.pre_start[0]}: {err}'
            try:
                os.write(report, message.encode(errors="replace"))
            finally:
                os._exit(254)
    _, status = os.waitpid(pid, 0)
    return _status(status)


def join_cgroup(app: AppPlan, cgroup_procs: tuple[str, ...]) -> None:
    """In the app's process, before anything of the app runs: move into the app's cgroup
    (``cgroup_procs``: its cgroup.procs files, one per hierarchy) and set its oom_score_adj
    (inherited by what it execs and forks)."""
    cgroup.attach(cgroup_procs)
    if app.oom_score_adj is not None:
        with open("/proc/self/oom_score_adj", "w", encoding="ascii") as f:
            f.write(str(app.oom_score_adj))


def _journal_output(app: AppPlan) -> None:
    """The app's stdout and stderr become journal streams tagged with its name (journald
    takes the unit from this process's cgroup, the app's, as it connects)."""
    for target, priority in ((1, journal.INFO), (2, journal.ERR)):
        fd = journal.stream(app.name, priority)
        os.dup2(fd, target)
        os.close(fd)


def _place_listen_fds(app: AppPlan, report: int) -> int:
    """Socket activation: the app's passed sockets as fds 3.. (inheritable), in order; the
    report pipe moved out of their way if it was there. The report's fd, maybe new."""
    count = len(app.listen_fds)
    copies = [fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 64) for fd, _ in app.listen_fds]
    if 3 <= report < 3 + count:
        report = fcntl.fcntl(report, fcntl.F_DUPFD_CLOEXEC, 64)
    for index, copy in enumerate(copies):
        os.dup2(copy, 3 + index, inheritable=True)
        os.close(copy)
    return report


def _listen_environment(app: AppPlan) -> dict[str, str]:
    """sd_listen_fds(3)'s variables for the app's process (its pid in the pod's namespace)."""
    return {
        "LISTEN_FDS": str(len(app.listen_fds)),
        "LISTEN_PID": str(os.getpid()),
        "LISTEN_FDNAMES": ":".join(name for _, name in app.listen_fds),
    }


def exec_app(
    app: AppPlan, report: int, argv: tuple[str, ...] = (), cgroup_procs: tuple[str, ...] = ()
) -> None:
    """In the forked app process: enter the root, drop privileges, exec. Never returns.

    ``argv`` empty runs the app: its pre-start handler first, if it has one, and the app only
    when that exited 0 — otherwise this process exits with the handler's status (128 + signal
    when one killed it), which the supervisor records as the app's. ``argv`` given runs that
    instead (the post-stop handler), in the same root and with the same identity.

    ``report`` is the close-on-exec write end of a pipe: a failure is written there (and the
    process exits 254), a successful execve(2) closes it with nothing written.
    """
    command = argv or app.exec
    try:
        # Not dumpable before anything of the pod can see us (SECURITY.md 9); exec resets it.
        process.set_dumpable(False)
        for signum in _RESET_SIGNALS:
            signal.signal(signum, signal.SIG_DFL)
        signal.pthread_sigmask(signal.SIG_SETMASK, [])
        join_cgroup(app, cgroup_procs)
        if app.journal:
            _journal_output(app)
        listening = app.listen_fds if not argv else ()
        if listening:
            report = _place_listen_fds(app, report)
        # Built before the pivot: libseccomp is loaded from the host's filesystem.
        filter_ = app_filter(app)
        _pivot(app.root)
        if not argv and is_interactive(app):
            _take_console()
        os.chdir(app.working_directory)
        _reduce_capabilities(app, None if app.no_new_privs else filter_)
        if app.no_new_privs:
            process.set_no_new_privs()
        # Only 0-2 reach the app: the pod lock (RKT_LOCK_FD) and every runtime fd stay behind
        # (SECURITY.md 8). The report pipe survives as close-on-exec until the execve.
        process.close_fds(keep=(0, 1, 2, report, *range(3, 3 + len(listening))))
        if filter_ is not None and app.no_new_privs:
            # As late as can be: only the execve(2) (and a pre-start handler, which inherits
            # the filter) runs under it.
            filter_.load()
        if not argv and app.pre_start:
            # aci.md: pre-start "must exit before the long running main exec binary is
            # launched"; a failing one keeps the app from starting (systemd's ExecStartPre).
            code = _run_pre_start(app, report)
            if code != 0:
                os._exit(code)
        environment = app.env()
        if listening:
            environment.update(_listen_environment(app))
        os.execve(command[0], list(command), environment)
    except BaseException as err:
        message = f'app "{app.name}": cannot start {command[0]}: {err}'
        try:
            os.write(report, message.encode(errors="replace"))
        finally:
            os._exit(254)


def fork_app(
    app: AppPlan, argv: tuple[str, ...] = (), cgroup_procs: tuple[str, ...] = ()
) -> tuple[int, int]:
    """Fork the app's process (see :func:`exec_app`); its pid and the read end of its report
    pipe, for :func:`wait_started`. The caller can register the pid in between, so that a
    signal arriving while a pre-start handler runs reaches the app's process."""
    read, write = os.pipe2(os.O_CLOEXEC)
    # Blocked across the fork: a signal for the child before it has reset its handlers stays
    # pending until it has, instead of running the supervisor's handler in the child.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _RESET_SIGNALS)
    pid = os.fork()
    if pid == 0:
        os.close(read)
        exec_app(app, write, argv, cgroup_procs)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    os.close(write)
    return pid, read


def wait_started(pid: int, read: int) -> None:
    """Wait until the process of :func:`fork_app` has exec'ed (or exited without a report:
    a failed pre-start handler, or a signal); ExecutorError with the child's own message, the
    child reaped, when it could not start."""
    chunks = []
    try:
        while chunk := os.read(read, 4096):
            chunks.append(chunk)
    finally:
        os.close(read)
    if chunks:
        os.waitpid(pid, 0)
        raise ExecutorError(b"".join(chunks).decode(errors="replace"))


def start_app(app: AppPlan, argv: tuple[str, ...] = (), cgroup_procs: tuple[str, ...] = ()) -> int:
    """Fork the app's process and wait until it has exec'ed; its pid, or ExecutorError with
    the child's own message when it could not start."""
    pid, read = fork_app(app, argv, cgroup_procs)
    wait_started(pid, read)
    return pid
