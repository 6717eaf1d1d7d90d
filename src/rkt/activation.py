"""Listening sockets handed over by systemd socket activation (sd_listen_fds(3)).

The protocol: the service manager passes the sockets as descriptors 3, 4, … and says how many
in ``LISTEN_FDS``, for the process named by ``LISTEN_PID`` (a child that inherited the
environment must not take them). ``LISTEN_FDNAMES`` names them (``FileDescriptorName=``).
Like ``sd_listen_fds(unset_environment=1)``, :func:`listen_sockets` removes the variables once
it has read them and marks the descriptors close-on-exec, so that nothing the service starts
inherits them. Both rkt services take their sockets this way (rkt's go-systemd activation).
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

from rkt.errors import ServiceError

__all__ = ["LISTEN_FDS_START", "ListenSocket", "listen_sockets"]

LISTEN_FDS_START = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


class ListenSocket:
    """A handed-over socket with its name (``""`` when the manager gave none)."""

    def __init__(self, sock: socket.socket, name: str) -> None:
        self.socket = sock
        self.name = name

    @property
    def family(self) -> int:
        return int(self.socket.family)

    def describe(self) -> str:
        """``unix:/run/rkt/metadata-svc.sock``, ``127.0.0.1:15441`` or ``[::1]:15441``."""
        address = self.socket.getsockname()
        if self.socket.family == socket.AF_UNIX:
            return f"unix:{address if isinstance(address, str) else address.decode()}"
        host, port = address[0], address[1]
        return f"[{host}]:{port}" if self.socket.family == socket.AF_INET6 else f"{host}:{port}"


def listen_sockets(environ: MutableMapping[str, str] | None = None) -> list[ListenSocket]:
    """The sockets passed to this process, ``[]`` when none were (or they were meant for
    another process). Each must be a listening stream socket: a datagram or connected one is a
    unit file's mistake, reported with its descriptor."""
    env = os.environ if environ is None else environ
    count_text = env.get("LISTEN_FDS", "")
    pid_text = env.get("LISTEN_PID", "")
    names_text = env.get("LISTEN_FDNAMES", "")
    for name in _VARIABLES:
        env.pop(name, None)
    if not count_text:
        return []
    if pid_text != str(os.getpid()):
        return []  # sd_listen_fds: the sockets belong to the process LISTEN_PID names
    try:
        count = int(count_text)
    except ValueError:
        raise ServiceError(f'LISTEN_FDS="{count_text}" is not a number') from None
    if not 0 < count <= 64:
        raise ServiceError(f"LISTEN_FDS={count}: expected 1 to 64 sockets")
    names = names_text.split(":") if names_text else []
    found = []
    for index in range(count):
        fd = LISTEN_FDS_START + index
        try:
            os.set_inheritable(fd, False)
            sock = socket.socket(fileno=fd)
        except OSError as err:
            raise ServiceError(f"socket activation: descriptor {fd}: {err.strerror}") from err
        if sock.type != socket.SOCK_STREAM or not sock.getsockopt(
            socket.SOL_SOCKET, socket.SO_ACCEPTCONN
        ):
            sock.detach()
            raise ServiceError(
                f"socket activation: descriptor {fd} is not a listening stream socket",
                hint="use ListenStream= in the .socket unit",
            )
        found.append(ListenSocket(sock, names[index] if index < len(names) else ""))
    return found
