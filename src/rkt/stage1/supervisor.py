"""The pod's PID 1: start the apps, reap every child, forward signals, record exit statuses.

Single-threaded and without a SIGCHLD handler: the loop blocks in wait(2), and signal handlers
run between bytecodes while it waits (PEP 475 restarts the wait). PID 1 of a pid namespace only
receives the signals it has handlers for, so SIGTERM, SIGINT and SIGHUP are handled here and
passed on to the apps; SIGTERM and SIGINT also arm a timer after which the apps get SIGKILL.

The supervisor never pivots: it stays in the pod's mount namespace with the host's root, so it
is the only runtime process the apps can see, and it is not dumpable (SECURITY.md 9).

Event handlers (ace.md "App Event Handlers"), as rkt's systemd units ran them (ExecStartPre,
ExecStopPost), with the app's identity, environment, capabilities and root:

- pre-start runs in the app's own process after it has entered its root, which waits for it
  and execs the app only if it exited 0 (:func:`rkt.stage1.executor.exec_app`); otherwise the
  app is not started and its status is the handler's (128 + signal if one killed it), so the
  pod exits non-zero. Apps start one after the other: the next once this one has exec'ed.
- post-stop runs once the app's process has exited, however it ended (a signal, a stop, a
  failed pre-start — systemd also runs ExecStopPost then), in a fresh process that enters the
  same root. The app's status is recorded when its post-stop has finished, so ``status/<app>``
  appearing means the app is completely done; the handler's own status only gets a line on
  stderr. Stops (SIGTERM/SIGINT) are not passed to post-stop handlers; each gets
  ``POST_STOP_TIMEOUT`` seconds and then SIGKILL. None run when stage1 itself fails (abort).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from types import FrameType

from rkt.linux import cgroup
from rkt.linux.kernel import Kernel
from rkt.pod import layout
from rkt.stage1.executor import (
    ExecutorError,
    apply_mounts,
    apply_sysctls,
    fork_app,
    start_app,
    wait_started,
    write_atomically,
)
from rkt.stage1.plan import PodPlan

#: Seconds between the SIGTERM of a stop and the SIGKILL of what is left.
STOP_TIMEOUT = 10
#: Seconds a post-stop handler may run before it gets SIGKILL.
POST_STOP_TIMEOUT = 10
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
        #: the signal of the stop (SIGTERM or SIGINT), once one came
        self.stop_signal = 0
        self.aborting = False
        #: Running post-stop handlers: pid -> (app, the app's status, SIGKILL deadline).
        self.post_stops: dict[int, tuple[str, int, float]] = {}
        self.stop_deadline: float | None = None
        self.post_stop_timeout: float = POST_STOP_TIMEOUT
        #: The pod's cgroups (recorded by the outer stage1), None without cgroups.
        self.pod_dir = pod_dir
        self.cgroups = cgroup.load(pod_dir)

    def _cgroup_procs(self, name: str) -> tuple[str, ...]:
        return self.cgroups.procs(name) if self.cgroups is not None else ()

    def _note_oom(self, name: str) -> None:
        """Mark an app the OOM killer killed in (``stage1/oom/<app>``, for ``rkt status``)."""
        if self.cgroups is None or not cgroup.oom_kills(self.cgroups, name):
            return
        directory = os.path.join(self.pod_dir, cgroup.OOM_DIR)
        os.makedirs(directory, mode=0o755, exist_ok=True)
        write_atomically(os.path.join(directory, name), b"true\n", 0o644)

    # --- signals ----------------------------------------------------------------------------

    def _forward(self, signum: int, frame: FrameType | None) -> None:
        if signum in (signal.SIGTERM, signal.SIGINT) and not self.stopping:
            self.stopping = True
            self.stop_signal = signum
            self.stop_deadline = time.monotonic() + STOP_TIMEOUT
            self._arm()
        self._signal_apps(signum)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        """The timer of the nearest deadline: the stop's (SIGKILL the apps) or a post-stop
        handler's (SIGKILL it); re-armed for the next one."""
        now = time.monotonic()
        if self.stop_deadline is not None and now >= self.stop_deadline:
            self.stop_deadline = None
            self._signal_apps(signal.SIGKILL)
        for pid, (name, code, deadline) in list(self.post_stops.items()):
            if now >= deadline:
                # os.write: a print here could re-enter the stderr buffer the loop writes to.
                os.write(2, f'stage1: app "{name}": post-stop handler timed out\n'.encode())
                self.post_stops[pid] = (name, code, float("inf"))
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        self._arm()

    def _arm(self) -> None:
        deadlines = [d for _, _, d in self.post_stops.values() if d != float("inf")]
        if self.stop_deadline is not None:
            deadlines.append(self.stop_deadline)
        if not deadlines:
            signal.setitimer(signal.ITIMER_REAL, 0)
            return
        signal.setitimer(signal.ITIMER_REAL, max(min(deadlines) - time.monotonic(), 0.001))

    def disarm(self) -> None:
        self.stop_deadline = None
        signal.setitimer(signal.ITIMER_REAL, 0)

    def _signal_apps(self, signum: int) -> None:
        for pid in list(self.running):
            with contextlib.suppress(ProcessLookupError):  # Exited, not yet reaped.
                os.kill(pid, signum)

    def install_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._forward)
        signal.signal(signal.SIGALRM, self._on_alarm)

    # --- apps -------------------------------------------------------------------------------

    def _record(self, name: str, code: int) -> None:
        self.exits.append((name, code))
        self._note_oom(name)
        path = layout.app_status(self.stage1_root, name)
        write_atomically(path, f"{code}\n".encode(), 0o644)

    def start(self) -> None:
        os.makedirs(layout.status_dir(self.stage1_root), mode=0o755, exist_ok=True)
        for app in self.plan.apps:
            apply_mounts(app, self.kernel, prepared=self.plan.user_range is not None)
            pid, report = fork_app(app, cgroup_procs=self._cgroup_procs(app.name))
            # Known before it has exec'ed: a stop during its pre-start handler reaches it.
            self.running[pid] = app.name
            if self.stopping:  # A stop arrived before this app was forked.
                os.kill(pid, signal.SIGTERM)
            try:
                wait_started(pid, report)
            except ExecutorError:
                del self.running[pid]  # Reaped by wait_started.
                raise
        ready = layout.supervisor_status(self.stage1_root)
        tmp = f"{ready}.tmp{os.getpid()}"
        # With apps that notify, "ready" waits for their READY=1, which rkt run relays and
        # then links (rkt.stage0.readiness); "started" says every app has started.
        os.symlink("started" if any(a.notify for a in self.plan.apps) else "ready", tmp)
        os.rename(tmp, ready)

    def _start_post_stop(self, name: str, code: int) -> bool:
        """Start the app's post-stop handler, if it has one; whether one now runs."""
        app = self.plan.app(name)
        if not app.post_stop or self.aborting:
            return False
        try:
            pid = start_app(app, app.post_stop, self._cgroup_procs(name))
        except (ExecutorError, OSError) as err:
            print(f"stage1: post-stop: {err}", file=sys.stderr, flush=True)
            return False
        self.post_stops[pid] = (name, code, time.monotonic() + self.post_stop_timeout)
        self._arm()
        return True

    def reap(self) -> None:
        """Wait for every child (apps, post-stop handlers and orphans re-parented to PID 1)
        until no app and no post-stop handler runs."""
        while self.running or self.post_stops:
            try:
                pid, status = os.wait()
            except ChildProcessError:
                break
            name = self.running.pop(pid, None)
            if name is not None:
                code = exit_code(status)
                if not self._start_post_stop(name, code):
                    self._record(name, code)
                continue
            handler = self.post_stops.pop(pid, None)
            if handler is not None:
                self._arm()
                name, code, _ = handler
                handler_code = exit_code(status)
                if handler_code != 0:
                    print(
                        f'stage1: app "{name}": post-stop handler exited {handler_code}',
                        file=sys.stderr,
                        flush=True,
                    )
                self._record(name, code)

    def abort(self) -> None:
        """An app could not start: kill those that did, and reap them (no post-stop)."""
        self.aborting = True
        self._signal_apps(signal.SIGKILL)
        for pid in list(self.post_stops):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.reap()


def wait_for_networks(fd: int) -> bool:
    """Whether stage0 reported the pod's networks up (b"1" on the pipe ``fd``, which is
    closed) rather than closing its end (a failed ADD, which stage0 reports, or stage0 died)."""
    try:
        return os.read(fd, 1) == b"1"
    finally:
        os.close(fd)


def run(plan: PodPlan, pod_dir: str, kernel: Kernel, *, network_ready: int | None = None) -> int:
    """Be the pod's PID 1 until its apps have exited; the pod's exit status.

    ``network_ready``: the pod's networks are still being ADDed (by stage0, to the network
    namespace we are in); nothing starts before they are up, and nothing at all if the pod was
    stopped meanwhile (128 + the stop's signal, as an app it killed would report). If they do
    not come up, 254 without a word: stage0 reports why."""
    supervisor = Supervisor(plan, pod_dir, kernel)
    supervisor.install_handlers()
    try:
        with open("/proc/self/comm", "wb") as f:
            f.write(COMM)
    except OSError:
        pass  # Only cosmetic.
    kernel.sethostname(plan.hostname)
    if network_ready is not None:
        up = wait_for_networks(network_ready)
        if supervisor.stopping or not up:
            supervisor.disarm()
            return 128 + supervisor.stop_signal if supervisor.stopping else FAILURE
    try:
        # Before any app runs, in the pod's namespaces (os/unix/sysctl).
        apply_sysctls(plan.sysctls)
        supervisor.start()
    except (ExecutorError, OSError) as err:
        print(f"stage1: {err}", file=sys.stderr, flush=True)
        supervisor.abort()
        return FAILURE
    supervisor.reap()
    supervisor.disarm()
    return pod_status(supervisor.exits)
