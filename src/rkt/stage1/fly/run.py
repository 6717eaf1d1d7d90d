"""``python -m rkt.stage1.fly.run --pod-dir=DIR [--debug] [--interactive]``: run a fly pod.

Two processes, no process manager (rkt's stage1_fly/run execs the app in place; we keep a
parent so that the app's exit status is recorded like the default flavor's):

- this one (stage0's child) loads the pod, plans, forks the app's process, writes its pid to
  ``pid``, passes SIGTERM and SIGHUP on to it, waits, writes ``stage1/rootfs/rkt/status/<app>``
  and exits with the app's status;
- the app's process: a mount namespace of its own whose ``/`` is a slave of the host's (host
  mounts made later still appear; ours never reach the host, and die with the namespace, so gc
  has only stage0's app root to unmount), the host's /dev, /proc and /sys and the volumes bound
  into the app's root, then chroot(2) there, the working directory, the app's uid, gid and
  groups, and execve(2). It keeps the pod lock (``RKT_LOCK_FD``) open, as rkt fly's app did,
  so the pod reads as running for as long as the app (or something it left behind) runs.

Everything else is the host's: network (``--net`` is not used), hostname, pid and IPC
namespaces, capabilities, cgroups; no seccomp filter, no masked paths. The app shares stage0's
process group and terminal, so ``--interactive`` needs nothing more and the terminal's ^C
reaches the app directly (we ignore SIGINT rather than send it twice).

Exit status: the app's (128 + N when signal N killed it), or 254 with one line on stderr.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from types import FrameType
from typing import TYPE_CHECKING

from rkt.atomicfile import write_atomically
from rkt.pod import layout
from rkt.stage1.executor.run import lock_fd
from rkt.stage1.fly.plan import FlyPlan

if TYPE_CHECKING:
    from rkt.linux.kernel import Kernel

FAILURE = 254
#: Reset to their defaults in the app's process before it execs.
_RESET_SIGNALS = (
    signal.SIGTERM,
    signal.SIGINT,
    signal.SIGHUP,
    signal.SIGQUIT,
    signal.SIGPIPE,
    signal.SIGXFSZ,
    signal.SIGCHLD,
    signal.SIGTSTP,
    signal.SIGTTIN,
    signal.SIGTTOU,
)
_FORWARDED = (signal.SIGTERM, signal.SIGHUP)
_TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def _fail(message: str) -> int:
    print(f"stage1-fly: {message}", file=sys.stderr, flush=True)
    return FAILURE


def _enter_root(plan: FlyPlan, kernel: Kernel) -> None:
    """In the app's process: its own mount namespace, the plan's mounts inside the app's root
    (each target resolved there by rkt.linux.mount, never through a symlink out of it), then
    chroot into it."""
    from rkt.linux import mount, namespace
    from rkt.stage1.executor.setup import operations

    kernel.unshare(namespace.CLONE_NEWNS)
    # A slave, not private: host tools expect to see mounts the host makes later (rkt fly
    # shared them both ways; ours stay here so nothing is left on the host after a crash).
    kernel.mount(None, "/", None, mount.MS_REC | mount.MS_SLAVE, None)
    for planned in plan.mounts:
        for operation in operations(planned):
            operation.apply(kernel, plan.root)
    kernel.chdir(plan.root)
    kernel.chroot(".")
    kernel.chdir(plan.working_directory)


def prepare_app(plan: FlyPlan, report: int, lock: int | None, kernel: Kernel) -> None:
    """The app's process up to its execve(2): not dumpable, default signals, its root
    (:func:`_enter_root`), its ids, and no fd but 0-2, ``report`` and the pod lock ``lock``."""
    # Not dumpable while the runtime's memory is still ours (docs/security.md 9); exec resets it.
    kernel.set_dumpable(False)
    kernel.reset_signals(_RESET_SIGNALS, unblock=True)
    _enter_root(plan, kernel)
    kernel.set_ids((plan.uid, plan.uid, plan.uid), (plan.gid, plan.gid, plan.gid), plan.groups)
    keep = [0, 1, 2, report]
    if lock is not None:
        os.set_inheritable(lock, True)
        keep.append(lock)
    kernel.close_fds(keep)


def _exec_app(plan: FlyPlan, report: int, lock: int | None, kernel: Kernel) -> None:
    """The forked app process. Never returns; a failure is written to ``report``."""
    try:
        prepare_app(plan, report, lock, kernel)
        os.execve(plan.exec[0], list(plan.exec), plan.env())
    except BaseException as err:
        message = f'app "{plan.name}": cannot start {plan.exec[0]}: {err}'
        try:
            os.write(report, message.encode(errors="replace"))
        finally:
            os._exit(FAILURE)


class _Forwarder:
    """SIGTERM/SIGHUP to us go to the app (``rkt stop`` signals the app itself)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid

    def handle(self, signum: int, frame: FrameType | None) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signum)


def execute(plan: FlyPlan, pod_dir: str, lock: int | None, kernel: Kernel | None = None) -> int:
    """Start the app, wait for it, record its status; the app's status. ``kernel``: what sets
    the app's process up (a RealKernel by default)."""
    from rkt.linux.kernel import RealKernel
    from rkt.stage1.executor.setup import prepare_pod_files

    if kernel is None:
        kernel = RealKernel()
    prepare_pod_files(plan.files, plan.volumes)
    stage1_root = os.path.join(pod_dir, layout.STAGE1_ROOTFS)
    os.makedirs(layout.status_dir(stage1_root), mode=0o755, exist_ok=True)
    read, write = os.pipe2(os.O_CLOEXEC)
    sys.stdout.flush()
    sys.stderr.flush()
    # Blocked across the fork: a signal for the app before it has reset its handlers stays
    # pending until it has, instead of running our handler in the child.
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, _RESET_SIGNALS)
    pid = os.fork()
    if pid == 0:
        os.close(read)
        _exec_app(plan, write, lock, kernel)
    forwarder = _Forwarder(pid)
    for signum in _FORWARDED:
        signal.signal(signum, forwarder.handle)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)
    os.close(write)
    # The stage1 interface: the pod's process in the host's pid namespace, for stop and enter.
    write_atomically(os.path.join(pod_dir, layout.PID), f"{pid}\n".encode(), 0o644)
    chunks = []
    while chunk := os.read(read, 4096):
        chunks.append(chunk)
    os.close(read)
    if chunks:
        os.waitpid(pid, 0)
        return _fail(b"".join(chunks).decode(errors="replace"))
    ready = layout.supervisor_status(stage1_root)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(ready)
    os.symlink("ready", ready)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    code = 128 - code if code < 0 else code  # a signal's, as a shell shows it
    write_atomically(layout.app_status(stage1_root, plan.name), f"{code}\n".encode(), 0o644)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rkt.stage1.fly.run", description="Run a fly pod.")
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--interactive", action="store_true")
    args = parser.parse_args(argv)
    pod_dir = os.path.abspath(args.pod_dir)
    if args.interactive:
        # The app has the terminal: its ^Z (or a background read or write) must not stop us.
        for signum in _TERMINAL_STOPS:
            signal.signal(signum, signal.SIG_IGN)
    from rkt.errors import Stage1Error
    from rkt.stage1.fly.plan import plan_fly
    from rkt.stage1.planner.load import load

    try:
        lock = lock_fd()  # the app inherits it
        loaded = load(pod_dir)
        plan = plan_fly(loaded.input, os.uname().nodename)
    except (Stage1Error, ValueError, OSError) as err:  # LoadError, PlanError
        return _fail(str(err))
    if args.debug:
        for line in plan.describe_mounts():
            print(f"stage1-fly: {plan.name}: {line}", file=sys.stderr)
    try:
        return execute(plan, pod_dir, lock)
    except OSError as err:
        return _fail(str(err))


if __name__ == "__main__":
    sys.exit(main())
