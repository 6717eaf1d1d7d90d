"""Handing a started pod to ``rkt-stage1 monitor`` (native/monitor.c), and ``--detach``.

Once PID 1 runs, the launcher's process execs the compiled monitor with a plan naming the fds
it keeps: the apps' streams and logs, the readiness pipe, the pty of ``--interactive``, the
pod's lock, and what to exec once the pod is gone (docs/architecture.md, "A running pod").
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections.abc import Mapping

from rkt.stage1.executor import planfile
from rkt.stage1.executor import streams as app_streams
from rkt.stage1.interface import LOCK_FD_ENV

FAILURE = 254
#: Ignored by the monitor while an interactive pod runs: its app has the terminal.
_TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def exec_monitor(
    pid1: int,
    pty: tuple[int, int] | None,
    teardown: list[str] | None,
    pod_dir: str,
    streams: Mapping[str, tuple[int, int, int, int, int]],
    ready: int,
    notify_socket: str | None,
    *,
    copy: bool,
    log_max: int,
) -> None:
    """Become ``rkt-stage1 monitor`` of the pod whose PID 1 is ``pid1``. ``streams``: each
    app's (stdout, stderr, tty, stdin, attach socket) fds, -1 for none; ``ready``: the read end
    of PID 1's readiness pipe (-1: none), passed on to systemd's ``notify_socket``; ``pty``:
    ``--interactive``'s; ``teardown``: what to exec once the pod is gone; ``copy``: the apps'
    output also goes to ours (not with --detach). Never returns."""
    plan = planfile.Plan("monitor").add("pid1", pid1)

    def keep(fd: int) -> int:
        os.set_inheritable(fd, True)
        return fd

    if streams:
        plan.add("log-dir", keep(app_streams.log_dir(pod_dir)), "log-max", log_max)
        plan.add("copy", int(copy))
    for name, fds in streams.items():
        plan.add("stream", name)
        for key, fd in zip(("out", "err", "tty", "in", "attach"), fds, strict=True):
            if fd >= 0:
                plan.add(key, keep(fd))
    if ready >= 0:
        plan.add("ready-pipe", keep(ready))
        if notify_socket:
            plan.add("notify-socket", notify_socket)
    if pty is not None:
        for fd in pty:
            os.set_inheritable(fd, True)
        plan.add("pty", *pty)
        for signum in _TERMINAL_STOPS:
            signal.signal(signum, signal.SIG_IGN)
    if teardown:
        plan.add_list("teardown", teardown)
    fd = os.memfd_create("rkt-stage1-plan", 0)
    os.write(fd, plan.to_bytes())
    os.lseek(fd, 0, os.SEEK_SET)
    lock = os.environ.get(LOCK_FD_ENV)
    if lock:
        os.set_inheritable(int(lock), True)  # the monitor holds the pod's lock
    sys.stdout.flush()
    sys.stderr.flush()
    program = planfile.program()
    os.execv(program, [program, "monitor", str(fd)])


def detach(pod_dir: str) -> int:
    """``rkt run --detach``: fork. Here (the caller, which returns) wait for the pod's PID 1 to
    say every app has started, or to give up: -1 then (0 for the caller), -255 (254) with the
    runtime's log of the pod on stderr. The child goes on to start the pod, as the monitor to
    be, in a session of its own with no terminal, its messages in ``stage1/logs/stage1.log``;
    it gets the write end of the pipe to hand to PID 1 (its return value)."""
    read, write = os.pipe2(os.O_CLOEXEC)
    log_path = os.path.join(pod_dir, app_streams.RUNTIME_LOG)
    os.makedirs(os.path.dirname(log_path), mode=0o750, exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    if os.fork() == 0:
        os.close(read)
        os.setsid()  # the caller's terminal may close; no terminal signals reach the pod
        null = os.open("/dev/null", os.O_RDWR)
        log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
        for fd, target in ((null, 0), (null, 1), (log, 2)):
            os.dup2(fd, target)
        os.close(null)
        os.close(log)
        return write
    os.close(write)
    with os.fdopen(read, "rb") as pipe:
        started = pipe.read(1) == b"1"
    if started:
        return -1
    with contextlib.suppress(OSError), open(log_path, "rb") as messages:
        sys.stderr.write(messages.read()[-4096:].decode(errors="replace"))
    return -(FAILURE + 1)
