"""The pod's PID 1: start the apps, reap every child, forward signals, record exit statuses.

Single-threaded and without a SIGCHLD handler: the loop blocks in wait(2), and signal handlers
run between bytecodes while it waits (PEP 475 restarts the wait). PID 1 of a pid namespace only
receives the signals it has handlers for, so SIGTERM, SIGINT and SIGHUP are handled here and
passed on to the apps; SIGTERM and SIGINT also arm a timer after which the apps get SIGKILL.

The supervisor never pivots: it stays in the pod's mount namespace with the host's root, so it
is the only runtime process the apps can see, and it is not dumpable (SECURITY.md 9).

TODO: pre-start and post-stop event handlers (ace.md "App Event Handlers") are not run yet.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from types import FrameType

from rkt.linux.kernel import Kernel
from rkt.pod import layout
from rkt.stage1.executor import ExecutorError, apply_mounts, start_app, write_atomically
from rkt.stage1.plan import PodPlan

#: Seconds between the SIGTERM of a stop and the SIGKILL of what is left.
STOP_TIMEOUT = 10
#: What /proc/1/comm says inside the pod, instead of the interpreter's name.
COMM = b"rkt-supervisor"
FAILURE = 254


def exit_code(status: int) -> int:
    """A wait status as a shell shows it: the exit code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def pod_status(exits: list[tuple[str, int]]) -> int:
    """rkt's rule: the status of the first app to exit non-zero, else 0."""
    for _, code in exits:
        if code != 0:
            return code
    return 0


class Supervisor:
    def __init__(self, plan: PodPlan, pod_dir: str, kernel: Kernel) -> None:
        self.plan = plan
        self.kernel = kernel
        self.stage1_root = f"{pod_dir.rstrip('/')}/{layout.STAGE1_ROOTFS}"
        self.running: dict[int, str] = {}
        self.exits: list[tuple[str, int]] = []
        self.stopping = False

    # --- signals ----------------------------------------------------------------------------

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
            self.stopping = True
            signal.alarm(STOP_TIMEOUT)
        self._signal_apps(signum)

    def _kill_all(self, signum: int, frame: FrameType | None) -> None:
        self._signal_apps(signal.SIGKILL)

    def _signal_apps(self, signum: int) -> None:
        for pid in list(self.running):
            with contextlib.suppress(ProcessLookupError):  # Exited, not yet reaped.
                os.kill(pid, signum)

    def install_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._forward)
        signal.signal(signal.SIGALRM, self._kill_all)

    # --- apps -------------------------------------------------------------------------------

    def _record(self, name: str, code: int) -> None:
        self.exits.append((name, code))
        path = layout.app_status(self.stage1_root, name)
        write_atomically(path, f"{code}\n".encode(), 0o644)

    def start(self) -> None:
        os.makedirs(layout.status_dir(self.stage1_root), mode=0o755, exist_ok=True)
        for app in self.plan.apps:
            apply_mounts(app, self.kernel)
            pid = start_app(app)
            self.running[pid] = app.name
            if self.stopping:  # A stop arrived while this app was starting.
                os.kill(pid, signal.SIGTERM)
        ready = layout.supervisor_status(self.stage1_root)
        tmp = f"{ready}.tmp{os.getpid()}"
        os.symlink("ready", tmp)
        os.rename(tmp, ready)

    def reap(self) -> None:
        """Wait for every child (apps and orphans re-parented to PID 1) until no app runs."""
        while self.running:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            name = self.running.pop(pid, None)
            if name is not None:
                self._record(name, exit_code(status))

    def abort(self) -> None:
        """An app could not start: kill those that did, and reap them."""
        self._signal_apps(signal.SIGKILL)
        self.reap()


def run(plan: PodPlan, pod_dir: str, kernel: Kernel) -> int:
    """Be the pod's PID 1 until its apps have exited; the pod's exit status."""
    supervisor = Supervisor(plan, pod_dir, kernel)
    supervisor.install_handlers()
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(COMM)
    except OSError:
        pass  # Only cosmetic.
    kernel.sethostname(plan.hostname)
    try:
        supervisor.start()
    except (ExecutorError, OSError) as err:
        print(f"stage1: {err}", file=sys.stderr, flush=True)
        supervisor.abort()
        return FAILURE
    supervisor.reap()
    signal.alarm(0)
    return pod_status(supervisor.exits)
