"""``python -m rkt.stage1.fly.enter --pod-dir=DIR --app=NAME -- CMD...``: run CMD as the fly
app runs: in its mount namespace, chrooted into its root, in its working directory, with its
uids, gids and groups and its environment (rkt's stage1_fly/enter chroots into the app's root
with the app's credentials; we also join the app's mount namespace, where its /dev, /proc, /sys,
/tmp and volumes are). Everything else is the host's already.

The app's process is the pod's ``pid``. Its ``/proc/<pid>`` directory is opened once and
everything is read and opened through it before anything is joined; the process must have the
app's root as its root (same device and inode as stage0's app root), so a recycled pid is
refused rather than entered. We are not dumpable from then until the exec (docs/security.md 9), and
CMD inherits no fd but 0-2. We exec CMD in place: it is in the host's pid namespace already.

Exit status: CMD's, or 254 with one line on stderr for our own failures.
"""

from __future__ import annotations

import os
import signal
import sys
from typing import NoReturn

from rkt.linux import namespace
from rkt.linux.kernel import Kernel, RealKernel
from rkt.stage1.executor.enter import (
    Credentials,
    EnterError,
    parse_arguments,
    parse_environ,
    parse_status,
    read_at,
    read_pod_pid,
)
from rkt.stage1.planner.load import app_root

FAILURE = 254
_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC
#: Python installs handlers or SIG_IGN for these; CMD must start with the defaults.
_RESET_SIGNALS = (signal.SIGINT, signal.SIGPIPE, signal.SIGXFSZ)


def _check_root(proc: int, pid: int, root: str) -> None:
    """The process at ``proc`` runs chrooted in the app's root, or EnterError."""
    try:
        theirs = os.stat("root", dir_fd=proc)
        ours = os.stat(root)
    except OSError as err:
        raise EnterError(f"cannot inspect process {pid} of the pod: {err}") from err
    if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
        raise EnterError(f"process {pid} is not the pod's app (its root is not {root})")


def take_jail(app: str, mnt: int, root: int, cwd: int, creds: Credentials, kernel: Kernel) -> None:
    """Not dumpable, then the app's mount namespace, root and cwd (the fds opened before),
    its ids, default signals and no fd but 0-2: what is left is execve(2)."""
    kernel.set_dumpable(False)
    try:
        kernel.setns(mnt, namespace.CLONE_NEWNS)
        kernel.fchdir(root)
        kernel.chroot(".")
        kernel.fchdir(cwd)
    except OSError as err:
        raise EnterError(f"cannot enter the root of app {app!r}: {err}") from err
    kernel.set_ids(creds.uids, creds.gids, creds.groups)
    kernel.reset_signals(_RESET_SIGNALS, unblock=False)
    sys.stdout.flush()
    sys.stderr.flush()
    kernel.close_fds((0, 1, 2))


def enter(pod_dir: str, app: str, argv: list[str], kernel: Kernel | None = None) -> NoReturn:
    """Become CMD in the app's jail; returns only by raising EnterError. ``kernel``: what
    takes the jail (a RealKernel by default)."""
    if kernel is None:
        kernel = RealKernel()
    if "/" in app or app.startswith("."):
        raise EnterError(f"bad app name {app!r}")
    pid = read_pod_pid(pod_dir)
    try:
        proc = os.open(f"/proc/{pid}", _DIR)
    except FileNotFoundError:
        raise EnterError(f"the app's process {pid} is gone: the pod is not running") from None
    try:
        _check_root(proc, pid, app_root(os.path.abspath(pod_dir), app))
        creds = parse_status(read_at(proc, "status"))
        environ = parse_environ(read_at(proc, "environ"))
        env = {os.fsdecode(k): os.fsdecode(v) for k, v in environ.items()}
        mnt = os.open("ns/mnt", os.O_RDONLY | os.O_CLOEXEC, dir_fd=proc)
        root = os.open("root", _DIR, dir_fd=proc)
        cwd = os.open("cwd", _DIR, dir_fd=proc)
    except OSError as err:
        raise EnterError(f"cannot open the app's process {pid}: {err}") from err
    finally:
        os.close(proc)
    take_jail(app, mnt, root, cwd, creds, kernel)
    try:
        # Looked up along the app's PATH inside its root, as a shell in the app would.
        os.execvpe(argv[0], argv, env)
    except OSError as err:
        raise EnterError(f"cannot execute {argv[0]}: {err.strerror}") from err


def main(argv: list[str] | None = None) -> int:
    parsed = parse_arguments(
        argv, "rkt.stage1.fly.enter", "Run a command as a fly pod's app.", "stage1-fly"
    )
    if parsed is None:
        return FAILURE
    pod_dir, app, command, _ = parsed  # fly's CMD is exec'ed in place: our terminal is its
    try:
        enter(pod_dir, app, command)
    except (EnterError, OSError) as err:
        print(f"stage1-fly: enter: {err}", file=sys.stderr, flush=True)
        return FAILURE


if __name__ == "__main__":
    sys.exit(main())
