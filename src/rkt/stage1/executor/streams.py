"""The apps' standard streams, made before the pod starts: which ends go to each app (through
PID 1's plan) and which the monitor keeps (its plan). Modes: rkt.stage1.planner.streams.

Every fd here is close-on-exec until the side it is for marks it inheritable just before its
exec (PID 1's for the apps' ends, the caller's for the monitor's), and the caller closes the
apps' ends before it becomes the monitor: the monitor sees the end of a stream once nothing of
the pod holds it.

Files under the pod directory: ``stage1/logs/<app>.log`` (and ``.log.1``, ``.dropped``) and
the attach sockets ``stage1/attach/<app>`` (rkt attach). The monitor runs as the pod's owner
outside the pod; apps cannot reach either.
"""

from __future__ import annotations

import contextlib
import os
import socket
from pathlib import Path

from rkt.pod import layout
from rkt.stage1.planner.plan import AppPlan

LOGS_DIR = layout.LOGS_DIR
ATTACH_DIR = layout.ATTACH_DIR
#: The log of the runtime's own messages of a detached pod (PID 1's and the monitor's).
RUNTIME_LOG = layout.RUNTIME_LOG
#: A log's size before it is rotated to ``<app>.log.1`` (rkt run --log-max-size), and the
#: default: two such files per app at most.
DEFAULT_LOG_MAX = 16 << 20


class AppStreams:
    """One app's ends: ``app`` (stdin, stdout, stderr for PID 1's plan; -1: PID 1's own) and
    the monitor's (``out``, ``err``, ``tty``, ``inp``, ``listen``; -1: none)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.app = [-1, -1, -1]
        self.ctty = False
        self.out = self.err = self.tty = self.inp = self.listen = -1

    def app_fds(self) -> list[int]:
        return [fd for fd in dict.fromkeys(self.app) if fd >= 0]

    def monitor_fds(self) -> list[int]:
        return [fd for fd in (self.out, self.err, self.tty, self.inp, self.listen) if fd >= 0]

    def close_app_ends(self) -> None:
        for fd in self.app_fds():
            with contextlib.suppress(OSError):
                os.close(fd)
        self.app = [-1, -1, -1]

    def close(self) -> None:
        self.close_app_ends()
        for fd in self.monitor_fds():
            with contextlib.suppress(OSError):
                os.close(fd)


def _null(write: bool) -> int:
    return os.open("/dev/null", (os.O_WRONLY if write else os.O_RDONLY) | os.O_CLOEXEC)


def _attach_socket(pod_dir: str, app: str) -> int:
    """A listening unix socket at ``stage1/attach/<app>``, root's only (bound through the
    directory's fd: a pod's path can be longer than sun_path)."""
    directory = os.path.join(pod_dir, ATTACH_DIR)
    os.makedirs(directory, mode=0o700, exist_ok=True)
    with contextlib.suppress(FileNotFoundError):
        os.unlink(os.path.join(directory, app))
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    fd = os.open(directory, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.bind(f"/proc/self/fd/{fd}/{app}")
        sock.listen(4)
    except OSError:
        sock.close()
        raise
    finally:
        os.close(fd)
    return sock.detach()


def make(app: AppPlan, pod_dir: str) -> AppStreams:
    """The app's streams as its modes say (the monitor logs "log" and "stream" output)."""
    made = AppStreams(app.name)
    try:
        if app.stdout == "tty":
            master, slave = os.openpty()
            os.set_blocking(master, False)
            made.tty = made.inp = master
            made.app = [slave, slave, slave]
            made.ctty = True
        else:
            for index, mode in ((1, app.stdout), (2, app.stderr)):
                if mode == "null":
                    made.app[index] = _null(True)
                    continue
                read, write = os.pipe2(os.O_CLOEXEC)
                made.app[index] = write
                if index == 1:
                    made.out = read
                else:
                    made.err = read
            if app.stdin == "stream":
                read, write = os.pipe2(os.O_CLOEXEC)
                made.app[0], made.inp = read, write
                os.set_blocking(write, False)
            else:
                made.app[0] = _null(False)
        if "stream" in (app.stdin, app.stdout, app.stderr) or made.ctty:
            made.listen = _attach_socket(pod_dir, app.name)
    except BaseException:
        made.close()
        raise
    return made


def log_dir(pod_dir: str) -> int:
    """The apps' log directory (made), open for the monitor."""
    path = os.path.join(pod_dir, LOGS_DIR)
    os.makedirs(path, mode=0o750, exist_ok=True)
    return os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def attach_path(pod_dir: str | Path, app: str) -> str:
    return os.path.join(pod_dir, ATTACH_DIR, app)
