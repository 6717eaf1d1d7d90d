"""systemd's notification protocol (sd_notify(3)): sending ``READY=1`` to ``NOTIFY_SOCKET``,
and a socket of our own that processes send theirs to. Knows no pods.

A notification is one datagram of ``KEY=VALUE`` lines on a unix socket. systemd accepts a
service's from its main process only (``NotifyAccess=main``, the default of ``Type=notify``),
so whatever relays a pod's readiness must be the process systemd started: ``rkt run``.
"""

from __future__ import annotations

import contextlib
import os
import socket

#: Where the service manager's socket is named in the environment.
NOTIFY_SOCKET = "NOTIFY_SOCKET"
#: A notification larger than this is not one (systemd's own limit is a page or so).
MAX_DATAGRAM = 4096


def send(message: str, address: str | None = None) -> bool:
    """Send ``message`` to ``address`` (default ``$NOTIFY_SOCKET``; ``@name`` is an abstract
    socket, as systemd names some); False when there is no such socket to send to."""
    address = address if address is not None else os.environ.get(NOTIFY_SOCKET, "")
    if not address or address[0] not in "/@":
        return False
    target = "\0" + address[1:] if address.startswith("@") else address
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as sock:
        try:
            sock.sendto(message.encode(), target)
        except OSError:
            return False
    return True


def parse(datagram: bytes) -> dict[str, str]:
    """The ``KEY=VALUE`` lines of a notification (later keys win; malformed lines ignored)."""
    fields: dict[str, str] = {}
    for line in datagram[:MAX_DATAGRAM].decode("utf-8", "replace").split("\n"):
        key, sep, value = line.partition("=")
        if sep and key:
            fields[key] = value
    return fields


class Listener:
    """A datagram socket bound at ``path`` (made anew, mode 0666: the processes that notify
    may run as any uid; who can reach the path decides who may send)."""

    def __init__(self, path: str) -> None:
        self.path = path
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
        try:
            # Through the directory's fd: a pod's path can be longer than sun_path's 108 bytes.
            directory, name = os.path.split(path)
            fd = os.open(directory or ".", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.sock.bind(f"/proc/self/fd/{fd}/{name}")
            finally:
                os.close(fd)
            os.chmod(path, 0o666)
            self.sock.setblocking(False)
        except OSError:
            self.sock.close()
            raise

    def fileno(self) -> int:
        return self.sock.fileno()

    def receive(self) -> list[dict[str, str]]:
        """Every notification waiting, parsed; [] when none."""
        got: list[dict[str, str]] = []
        while True:
            try:
                datagram = self.sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                return got
            got.append(parse(datagram))

    def close(self) -> None:
        self.sock.close()
        with contextlib.suppress(OSError):
            os.unlink(self.path)
