"""Socket activation (sd_listen_fds(3)): the sockets systemd passes a service, and what each
is. Knows no pods.

systemd passes them as fds 3.. with ``LISTEN_FDS`` (how many), ``LISTEN_PID`` (the process
they are for) and ``LISTEN_FDNAMES`` (``:``-separated names) in the environment. Two users:

- ``rkt run`` passes them on to the pod (:func:`passed`, and stage1 learns what each is with
  :func:`describe`);
- rkt's two services listen on them (:func:`listen_sockets`): like
  ``sd_listen_fds(unset_environment=1)`` it removes the variables once it has read them and
  marks the descriptors close-on-exec, so that nothing the service starts inherits them (rkt's
  go-systemd activation).
"""

from __future__ import annotations

import os
import socket
from collections.abc import MutableMapping

from msgspec import Struct

from rkt.errors import ServiceError

FIRST_FD = 3
_VARIABLES = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")


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


class Listener:
    """A socket handed over to a service (rkt api-service, metadata-service), with its name
    (``""`` when the manager gave none)."""

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


def listen_sockets(environ: MutableMapping[str, str] | None = None) -> list[Listener]:
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
        fd = FIRST_FD + index
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
        found.append(Listener(sock, names[index] if index < len(names) else ""))
    return found
