"""Socket activation (sd_listen_fds(3)): the sockets systemd passes a service, and what each
is. Knows no pods.

systemd passes them as fds 3.. with ``LISTEN_FDS`` (how many), ``LISTEN_PID`` (the process
they are for) and ``LISTEN_FDNAMES`` (``:``-separated names) in the environment.
"""

from __future__ import annotations

import os
import socket

from msgspec import Struct

FIRST_FD = 3


class ListenSocket(Struct, frozen=True):
    """One passed socket: its fd, systemd's name for it, ``tcp``/``udp``/``unix``, its port
    (0 for unix sockets)."""

    fd: int
    name: str
    protocol: str
    port: int


def passed(environ: dict[str, str] | os._Environ[str], pid: int) -> list[int]:
    """The fds systemd passed to ``pid`` (none when ``LISTEN_PID`` names another process)."""
    if environ.get("LISTEN_PID", "") != str(pid):
        return []
    count = environ.get("LISTEN_FDS", "")
    if not count.isdigit():
        return []
    return list(range(FIRST_FD, FIRST_FD + int(count)))


def describe(fds: list[int], names: str = "") -> list[ListenSocket]:
    """What each passed fd is; an fd that is not a socket is left out."""
    labels = names.split(":") if names else []
    found = []
    for index, fd in enumerate(fds):
        try:
            sock = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        with sock:
            if sock.family in (socket.AF_INET, socket.AF_INET6):
                protocol = "tcp" if sock.type == socket.SOCK_STREAM else "udp"
                port = int(sock.getsockname()[1])
            elif sock.family == socket.AF_UNIX:
                protocol, port = "unix", 0
            else:
                continue
        name = labels[index] if index < len(labels) else "unknown"
        found.append(ListenSocket(fd, name, protocol, port))
    return found
