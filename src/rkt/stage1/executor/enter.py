"""``python -m rkt.stage1.executor.enter --pod-dir=DIR --app=NAME -- CMD...``: CMD in an app's jail.

The entered process gets what the app has (docs/security.md 10; rkt CVE-2019-10144/-10145/-10147):
its namespaces (ipc, uts, net, pid, then mnt), its root and working directory, its uids, gids
and supplementary groups, exactly its five capability sets, its no_new_privs bit and its
environment; it is not dumpable until it execs, and it inherits no fd but 0-2.

How: the app is the child of the pod's PID 1 (host pid in the pod's ``pid`` file) whose
environment has ``AC_APP_NAME=<app>``. Everything about it is read, and every namespace, its root
and its cwd are opened, through one ``/proc/<pid>`` directory fd *before* joining anything (a
recycled pid makes those opens fail instead of reaching another process). We setns into ipc,
uts, net, pid and mnt (mnt last: after it, host paths mean nothing), then fork so that the child
is in the pod's pid namespace. The child chroots into the app's root through the fd opened
before (as nsenter does: fchdir + chroot(".")), fchdirs to the app's cwd, takes the app's
credentials, and execs CMD. This process waits and exits with CMD's status.

The app's seccomp filter is installed too: rebuilt from the resolved filter stage1 recorded at
run time (``stage1/seccomp/<app>.json``), built before joining anything (libseccomp is loaded
from the host) and loaded last, as the executor does. An app under seccomp whose filter is not
recorded is refused rather than entered without it.

It joins the app's cgroups (on every hierarchy, from the pod's record ``stage1/cgroups.json``,
which only the host can write) before anything else, so that what CMD runs and forks counts
against the app's and the pod's limits (pids, memory, cpu; rkt CVE-2019-10147).

CMD runs in a session of its own, with no controlling terminal (docs/security.md 12): a terminal it
was handed as 0-2 cannot be used to push input into the caller's shell (TIOCSTI needs it to
be the controlling terminal, and the app's seccomp filter refuses it besides).

Exit status: CMD's, or 254 with one line on stderr for our own failures.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import signal
import sys
import termios

import msgspec

from rkt import jsondoc
from rkt.errors import Stage1Error
from rkt.linux import capability, cgroup, namespace
from rkt.linux import seccomp as linux_seccomp
from rkt.linux import tty as linux_tty
from rkt.linux.kernel import Kernel, RealKernel
from rkt.pod import layout
from rkt.stage1.executor.setup import build_filter
from rkt.stage1.planner import seccomp_groups
from rkt.stage1.planner.plan import PlanError

FAILURE = 254
APP_NAME_ENV = b"AC_APP_NAME"
#: Joined in this order; mnt last (nsenter's order).
NAMESPACES = (
    ("ipc", namespace.CLONE_NEWIPC),
    ("uts", namespace.CLONE_NEWUTS),
    ("net", namespace.CLONE_NEWNET),
    ("pid", namespace.CLONE_NEWPID),
    ("mnt", namespace.CLONE_NEWNS),
    # Last (--private-users): the namespaces above accept the host's root, which can join them
    # all; once in the pod's user namespace our capabilities are only good inside it.
    ("user", namespace.CLONE_NEWUSER),
)
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: Python installs handlers or SIG_IGN for these; CMD must start with the defaults.
_RESET_SIGNALS = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGPIPE,
    signal.SIGXFSZ,
)
#: Passed on to CMD when it has no terminal of its own (it is in a session of its own).
_FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


class EnterError(Stage1Error):
    """enter's own failure: one line on stderr, exit 254."""


class Credentials(msgspec.Struct, frozen=True):
    """What /proc/<pid>/status says about the app's identity and privileges."""

    uids: tuple[int, int, int]
    gids: tuple[int, int, int]
    groups: tuple[int, ...]
    caps: capability.CapabilitySets
    no_new_privs: bool
    seccomp: int


def parse_status(text: bytes) -> Credentials:
    """The fields of a ``/proc/<pid>/status`` that make up the app's jail."""
    fields: dict[bytes, bytes] = {}
    for line in text.splitlines():
        key, _, value = line.partition(b":")
        fields[key] = value.strip()

    def ids(key: bytes) -> tuple[int, int, int]:
        real, effective, saved, _fs = (int(v) for v in fields[key].split())
        return real, effective, saved

    def cap(key: bytes) -> int:
        return int(fields[key], 16)

    try:
        return Credentials(
            uids=ids(b"Uid"),
            gids=ids(b"Gid"),
            groups=tuple(int(v) for v in fields.get(b"Groups", b"").split()),
            caps=capability.CapabilitySets(
                bounding=cap(b"CapBnd"),
                permitted=cap(b"CapPrm"),
                effective=cap(b"CapEff"),
                inheritable=cap(b"CapInh"),
                ambient=cap(b"CapAmb"),
            ),
            no_new_privs=fields.get(b"NoNewPrivs", b"0") == b"1",
            seccomp=int(fields.get(b"Seccomp", b"0")),
        )
    except (KeyError, ValueError) as err:
        raise EnterError(f"cannot parse the app's status: {err}") from err


def parse_environ(raw: bytes) -> dict[bytes, bytes]:
    env: dict[bytes, bytes] = {}
    for entry in raw.split(b"\0"):
        key, sep, value = entry.partition(b"=")
        if sep and key:
            env[key] = value
    return env


def read_at(dir_fd: int, name: str) -> bytes:
    """All of file ``name`` in the directory open at ``dir_fd`` (a /proc/<pid> of the pod)."""
    fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(fd)


def _stat_fields(raw: bytes) -> list[bytes]:
    """Fields of /proc/<pid>/stat after the command name (which may hold spaces and parens):
    index 0 is the state, 1 the ppid, 19 the start time."""
    return raw[raw.rindex(b")") + 2 :].split()


def read_pod_pid(pod_dir: str) -> int:
    try:
        with open(os.path.join(pod_dir, layout.PID), "rb") as f:
            return int(f.read().strip())
    except FileNotFoundError:
        raise EnterError("the pod has no pid file: it is not running") from None
    except (OSError, ValueError) as err:
        raise EnterError(f"cannot read the pod's pid: {err}") from err


def find_app(pid1: int, app: str) -> tuple[int, int]:
    """The app's host pid and an open ``/proc/<pid>`` directory fd pinning that process.

    Among the children of ``pid1`` whose environment names ``app``, the one started first (a
    process of ``rkt enter`` orphaned to PID 1 may carry the same environment).
    """
    if namespace.namespace_id("pid", pid1) == namespace.namespace_id("pid"):
        raise EnterError(f"process {pid1} is not the PID 1 of a pod")
    wanted = APP_NAME_ENV + b"=" + app.encode()
    found: list[tuple[int, int, int]] = []  # (start time, pid, fd)
    try:
        for name in os.listdir("/proc"):
            if not name.isdigit():
                continue
            try:
                fd = os.open(f"/proc/{name}", _DIR)
            except OSError:
                continue
            try:
                fields = _stat_fields(read_at(fd, "stat"))
                if int(fields[1]) != pid1 or wanted not in read_at(fd, "environ").split(b"\0"):
                    os.close(fd)
                    continue
            except (OSError, ValueError, IndexError):
                os.close(fd)
                continue
            found.append((int(fields[19]), int(name), fd))
        if not found:
            raise EnterError(f'no running process of app "{app}" in the pod')
        found.sort()
        return found[0][1], found.pop(0)[2]
    finally:
        for _, _, fd in found:
            os.close(fd)


class Target(msgspec.Struct):
    """Everything of the app that the entered process takes, opened before joining."""

    pid: int
    namespaces: list[tuple[int, int]]  # (fd, nstype), in joining order
    root: int
    cwd: int
    creds: Credentials
    env: dict[bytes, bytes]

    def close(self) -> None:
        for fd, _ in self.namespaces:
            os.close(fd)
        os.close(self.root)
        os.close(self.cwd)


def open_target(proc: int, pid: int) -> Target:
    creds = parse_status(read_at(proc, "status"))
    env = parse_environ(read_at(proc, "environ"))
    opened: list[tuple[int, int]] = []
    try:
        for kind, nstype in NAMESPACES:
            # Joining the namespace we are already in is harmless; skip it all the same.
            path = f"ns/{kind}"
            if os.stat(path, dir_fd=proc).st_ino != namespace.namespace_id(kind):
                opened.append((os.open(path, os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc), nstype))
        root = os.open("root", _DIR, dir_fd=proc)
        try:
            cwd = os.open("cwd", _DIR, dir_fd=proc)
        except OSError:
            os.close(root)
            raise
    except OSError as err:
        for fd, _ in opened:
            os.close(fd)
        raise EnterError(f"cannot open the app's process {pid}: {err}") from err
    target = Target(pid, opened, root, cwd, creds, env)
    if any(nstype == namespace.CLONE_NEWUSER for _, nstype in opened):
        try:
            # status shows the host's ids; we set ids from inside the app's user namespace.
            target.creds = in_user_namespace(
                creds, read_at(proc, "uid_map"), read_at(proc, "gid_map")
            )
        except (OSError, EnterError):
            target.close()
            raise
    return target


def _inside(host_id: int, id_map: bytes) -> int:
    for line in id_map.splitlines():
        inside, outside, count = (int(v) for v in line.split())
        if outside <= host_id < outside + count:
            return inside + host_id - outside
    raise EnterError(f"id {host_id} is not mapped in the app's user namespace")


def in_user_namespace(creds: Credentials, uid_map: bytes, gid_map: bytes) -> Credentials:
    """The app's ids as its user namespace numbers them, from its ``uid_map``/``gid_map`` as
    the host reads them (``inside outside count`` lines)."""
    uids = tuple(_inside(i, uid_map) for i in creds.uids)
    gids = tuple(_inside(i, gid_map) for i in creds.gids)
    return msgspec.structs.replace(
        creds,
        uids=(uids[0], uids[1], uids[2]),
        gids=(gids[0], gids[1], gids[2]),
        groups=tuple(_inside(i, gid_map) for i in creds.groups),
    )


def app_filter(pod_dir: str, app: str, mode: int) -> linux_seccomp.Stack | None:
    """The app's recorded seccomp filter, built (not loaded); None when it has none. ``mode``
    is the app's ``Seccomp:`` status: one under a filter without a record is refused."""
    if "/" in app or app.startswith("."):
        raise EnterError(f"bad app name {app!r}")
    path = os.path.join(pod_dir, "stage1", "seccomp", f"{app}.json")
    try:
        with open(path, "rb") as f:
            data = jsondoc.loads(f.read())
    except FileNotFoundError:
        if mode:
            raise EnterError(
                "the app runs under seccomp but its filter is not recorded: refusing to enter"
                " without it"
            ) from None
        return None
    except (OSError, ValueError) as err:
        raise EnterError(f"cannot read the app's seccomp filter {path}: {err}") from err
    try:
        return build_filter(seccomp_groups.Filter.from_json(data))
    except (PlanError, OSError) as err:
        raise EnterError(f"cannot rebuild the app's seccomp filter: {err}") from err


def _set_credentials(
    creds: Credentials, kernel: Kernel, early: linux_seccomp.Stack | None = None
) -> None:
    """Exactly the app's ids and capability sets. Bounding first (needs CAP_SETPCAP); keepcaps
    so that the uid change keeps the permitted set; capset; then ambient. ``early`` is loaded
    before capset, while CAP_SYS_ADMIN is still effective (an app without no_new_privs)."""
    caps = creds.caps
    top = kernel.last_cap()
    kernel.ambient_clear()
    for number in range(top + 1):
        if not caps.bounding >> number & 1:
            kernel.bounding_drop(number)
    kernel.set_keepcaps(True)
    kernel.set_ids(creds.uids, creds.gids, creds.groups)
    if early is not None:
        kernel.load_seccomp(early)
    kernel.capset(caps.effective, caps.permitted, caps.inheritable)
    for number in range(top + 1):
        if caps.ambient >> number & 1:
            kernel.ambient_raise(number)
    kernel.set_keepcaps(False)


def join(target: Target, app: str, kernel: Kernel) -> None:
    """Not dumpable before anything of the pod can see us (docs/security.md 9; exec resets it), then
    the app's namespaces, opened before (``target``), in their order (:data:`NAMESPACES`)."""
    kernel.set_dumpable(False)
    try:
        for fd, nstype in target.namespaces:
            kernel.setns(fd, nstype)
    except OSError as err:
        raise EnterError(f"cannot join the namespaces of app {app!r}: {err}") from err


def take_jail(
    target: Target, report: int, kernel: Kernel, filter_: linux_seccomp.Stack | None = None
) -> None:
    """In the forked child, in the pod's namespaces: the app's root (through the fd opened
    before, as nsenter does: fchdir + chroot(".")) and cwd, its credentials, its no_new_privs
    bit, no fd but 0-2 and ``report``, and its seccomp filter last: what is left is execve."""
    kernel.fchdir(target.root)
    kernel.chroot(".")
    kernel.fchdir(target.cwd)
    nnp = target.creds.no_new_privs
    _set_credentials(target.creds, kernel, None if nnp else filter_)
    if nnp:
        kernel.set_no_new_privs()
    kernel.close_fds((0, 1, 2, report))
    if filter_ is not None and nnp:
        kernel.load_seccomp(filter_)


def _exec_in_child(
    target: Target,
    argv: list[str],
    report: int,
    kernel: Kernel,
    filter_: linux_seccomp.Stack | None = None,
    terminal: int | None = None,
) -> None:
    """In the forked child (already in the pod's namespaces). Never returns. ``terminal``: the
    slave of the pty made for ``enter -t``, CMD's controlling terminal and 0-2."""
    try:
        kernel.reset_signals(_RESET_SIGNALS, unblock=True)
        os.setsid()  # no controlling terminal of the caller's (docs/security.md 12)
        if terminal is not None:
            fcntl.ioctl(terminal, termios.TIOCSCTTY, 0)
            for fd in (0, 1, 2):
                os.dup2(terminal, fd)
        take_jail(target, report, kernel, filter_)
        os.execve(argv[0], argv, target.env)
    except BaseException as err:
        message = f"cannot execute {argv[0]}: {err}"
        try:
            os.write(report, message.encode(errors="replace"))
        finally:
            os._exit(FAILURE)


def _signal(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signum)


def _join_cgroups(pod_dir: str, app: str) -> None:
    """Move into the app's cgroups, as recorded for the pod (none: a pod without cgroups)."""
    try:
        recorded = cgroup.load(os.path.join(pod_dir, layout.CGROUP_RECORD))
        if recorded is not None:
            cgroup.attach(recorded.procs(app))
    except (OSError, ValueError) as err:
        raise EnterError(f"cannot join the cgroups of app {app!r}: {err}") from err


def enter(
    pod_dir: str, app: str, argv: list[str], *, tty: bool = False, kernel: Kernel | None = None
) -> int:
    """Run ``argv`` in the app's jail; its status. ``tty``: on a pty of its own, relayed to
    ours (``rkt enter -t``), rather than on our 0-2 in a session without a terminal.
    ``kernel``: what joins the jail (a RealKernel by default)."""
    if kernel is None:
        kernel = RealKernel()
    pid1 = read_pod_pid(pod_dir)
    pid, proc = find_app(pid1, app)
    try:
        target = open_target(proc, pid)
    finally:
        os.close(proc)
    try:
        filter_ = app_filter(pod_dir, app, target.creds.seccomp)
    except EnterError:
        target.close()
        raise
    try:
        _join_cgroups(pod_dir, app)
    except EnterError:
        target.close()
        raise
    join(target, app, kernel)
    pty = os.openpty() if tty else None
    read, write = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(read)
        _exec_in_child(target, argv, write, kernel, filter_, pty[1] if pty else None)
    os.close(write)
    target.close()
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    if pty is not None:
        os.close(pty[1])
        status = linux_tty.relay(pty[0], child) if not chunks else os.waitpid(child, 0)[1]
        os.close(pty[0])
    else:
        # CMD has a session of its own: what the caller's terminal sends us is passed on.
        for signum in _FORWARDED:
            signal.signal(signum, lambda signum, _: _signal(child, signum))
        _, status = os.waitpid(child, 0)
    if chunks:
        raise EnterError(b"".join(chunks).decode(errors="replace"))
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def parse_arguments(
    argv: list[str] | None, prog: str, description: str, who: str
) -> tuple[str, str, list[str], bool] | None:
    """The enter entry's ``--pod-dir``, ``--app``, command and ``--tty`` (either flavor's);
    None, said on stderr as ``who``, when there is no command."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--app", required=True)
    parser.add_argument("--tty", action="store_true")
    parser.add_argument("command", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    command = list(args.command)
    if command[:1] == ["--"]:
        command = command[1:]
    if not command:
        print(f"{who}: enter needs a command", file=sys.stderr)
        return None
    return args.pod_dir, args.app, command, args.tty


def main(argv: list[str] | None = None) -> int:
    parsed = parse_arguments(
        argv, "rkt.stage1.executor.enter", "Run a command in a running app's jail.", "stage1"
    )
    if parsed is None:
        return FAILURE
    pod_dir, app, command, tty = parsed
    try:
        return enter(pod_dir, app, command, tty=tty)
    except (EnterError, OSError) as err:
        with contextlib.suppress(OSError):
            print(f"stage1: enter: {err}", file=sys.stderr, flush=True)
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
