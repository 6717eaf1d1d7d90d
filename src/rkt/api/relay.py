"""Connections accepted on sockets systemd handed over, passed on to the gRPC server.

grpcio can only listen on addresses it binds itself; it cannot take a listening descriptor
(grpc/grpc#19133 is open; the support merged into its C core needs libsystemd, which the
wheels are built without). Under socket activation the gRPC server therefore listens on a unix
socket in a directory only root can enter, and each connection accepted on a handed-over
socket is relayed to it byte for byte, a thread per direction. gRPC keeps one connection per
client and multiplexes its calls over it, so a relay is one connection, not one call.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence

from rkt.linux.activation import Listener

__all__ = ["Relay"]

_CHUNK = 1 << 16
_ACCEPT_WAKEUP = 0.5  # seconds; how soon stop() is noticed


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy until end of stream, then pass the end on (half-close), as a proxy must."""
    with contextlib.suppress(OSError):
        while data := source.recv(_CHUNK):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def _relay(client: socket.socket, target: str) -> None:
    upstream = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        upstream.connect(target)
    except OSError:
        upstream.close()
        client.close()
        return
    back = threading.Thread(target=_pump, args=(upstream, client), daemon=True)
    back.start()
    _pump(client, upstream)
    back.join()
    upstream.close()
    client.close()


class Relay:
    def __init__(self, listeners: Sequence[Listener], target: str) -> None:
        """``target``: the path of the unix socket the gRPC server listens on."""
        self.listeners = list(listeners)
        self.target = target
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def _accept(self, listener: socket.socket) -> None:
        listener.settimeout(_ACCEPT_WAKEUP)
        while not self._stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            threading.Thread(target=_relay, args=(client, self.target), daemon=True).start()

    def start(self) -> None:
        for listener in self.listeners:
            thread = threading.Thread(target=self._accept, args=(listener.socket,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join()
