"""The metadata service's HTTP servers on their listening sockets (rkt's runMetadataService).

Two servers, a thread per request each (the standard library's threading HTTP server): the
public one on TCP, where pods ask (:mod:`rkt.metadata.public`), and the registration one on a
unix socket (:mod:`rkt.metadata.private`). Sockets come from systemd socket activation
(:mod:`rkt.linux.activation`; a unix socket is the registration one, TCP ones are public) or are
opened here: TCP on ``--listen-address``:``--listen-port``, with ``IP_FREEBIND`` so that the
address may be a pod network's gateway that exists only once its first pod is up; the unix
socket at the registration path, mode 0660, root's, replacing a stale one (nobody listening)
and refusing to start when another service listens there.
"""

from __future__ import annotations

import contextlib
import errno
import ipaddress
import os
import socket
import stat
import threading
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from socketserver import ThreadingMixIn
from typing import Any

from rkt.errors import ServiceError
from rkt.linux.activation import Listener
from rkt.metadata import private, public
from rkt.metadata.registry import Registry, parse_address

__all__ = ["MetadataService", "bind_tcp", "bind_unix"]

Log = Callable[[str], None]
_BACKLOG = 128
#: A connection idle this long is dropped, and no more than this many are served at once
#: (the others are closed at once): pods cannot exhaust the service's threads.
REQUEST_TIMEOUT = 10.0
MAX_CONNECTIONS = 512
_IP_FREEBIND = getattr(socket, "IP_FREEBIND", 15)


class _Server(ThreadingMixIn, HTTPServer):
    """An HTTP server on a socket that is already bound and listening."""

    daemon_threads = True
    block_on_close = False

    def __init__(self, sock: socket.socket, handler: type[_Handler], service: MetadataService):
        # bind_and_activate=False: the server's own socket is never bound, only replaced.
        super().__init__(("", 0), handler, bind_and_activate=False)
        self.socket.close()
        self.socket = sock
        self.address_family = sock.family
        self.service = service
        self._slots = threading.BoundedSemaphore(MAX_CONNECTIONS)

    def process_request(self, request: Any, client_address: Any) -> None:
        if not self._slots.acquire(blocking=False):
            self.shutdown_request(request)
            return
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._slots.release()
            raise

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._slots.release()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """One line instead of the standard library's traceback: a client that went away
        mid-answer is no failure of the service."""
        import sys

        error = sys.exc_info()[1]
        if not isinstance(error, ConnectionError):
            self.service.log(f"metadata service: request failed: {error!r}")


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = REQUEST_TIMEOUT
    server_version = "rkt-metadata-service"

    def version_string(self) -> str:
        return self.server_version

    #: the largest body this side accepts
    limit = public.MAX_FORM

    def _read_body(self) -> bytes | None:
        """The request body; None (after a 413) when it is larger than :attr:`limit`."""
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if not 0 <= length <= self.limit:
            self._send(public.Response(413, b"request body too large or malformed\n"))
            self.close_connection = True
            return None
        return self.rfile.read(length) if length else b""

    def _send(self, response: public.Response, *, head: bool = False) -> None:
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers:
            self.send_header(key, value)
        self.end_headers()
        if not head and response.body:  # the client may be gone once it has the headers
            self.wfile.write(response.body)

    def log_message(self, format: str, *args: Any) -> None:
        """The standard library's per-request lines are replaced by the handlers' own."""

    def log_error(self, format: str, *args: Any) -> None:
        self.server.service.log(f"metadata service: {format % args}")

    def _serve(self) -> None:
        raise NotImplementedError

    # Every method reaches _serve, which answers 405 for those an endpoint does not take.
    def do_GET(self) -> None:
        self._serve()

    def do_HEAD(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()


class _PublicHandler(_Handler):
    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        try:
            peer = parse_address(str(self.client_address[0]))
        except (ValueError, IndexError):
            peer = None
        response, uuid = public.handle(
            self.server.service.registry,
            self.command,
            self.path,
            peer,
            body,
            self.headers.get("Content-Type", ""),
        )
        self._send(response, head=self.command == "HEAD")
        # rkt logged "METHOD URI - STATUS"; the token is the pod's secret and stays out of it.
        endpoint = self.path.split("?")[0].split("/", 2)[2:]
        where = "/…/" + endpoint[0] if endpoint else self.path
        pod = f" pod {uuid}" if uuid else ""
        self.server.service.log(f"{peer} {self.command} {where} - {response.status}{pod}")


class _PrivateHandler(_Handler):
    limit = private.MAX_MANIFEST

    def _serve(self) -> None:
        body = self._read_body()
        if body is None:
            return
        service = self.server.service
        response = private.handle(
            service.registry, self.command, self.path, body, service.public_addresses()
        )
        self._send(response)
        service.log(f"registration: {self.command} {self.path.split('?')[0]} - {response.status}")


class MetadataService:
    """Both servers over the sockets given; :meth:`start` serves in threads of their own."""

    def __init__(
        self,
        registry: Registry,
        public_sockets: Sequence[Listener],
        registration_sockets: Sequence[Listener],
        log: Log,
    ) -> None:
        if not public_sockets:
            raise ServiceError("the metadata service has no TCP socket for the pods")
        if not registration_sockets:
            raise ServiceError("the metadata service has no unix socket for registrations")
        self.registry = registry
        self.log = log
        self._public = list(public_sockets)
        self._servers = [_Server(s.socket, _PublicHandler, self) for s in public_sockets]
        self._servers += [_Server(s.socket, _PrivateHandler, self) for s in registration_sockets]
        self._threads: list[threading.Thread] = []

    def public_addresses(self) -> list[str]:
        return [s.describe() for s in self._public]

    def start(self) -> None:
        for server in self._servers:
            thread = threading.Thread(target=server.serve_forever, args=(0.2,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def stop(self) -> None:
        for server in self._servers:
            server.shutdown()
        for server in self._servers:
            server.server_close()


def bind_tcp(address: str, port: int) -> Listener:
    """A listening TCP socket on ``address`` (IPv4 or IPv6, no brackets) and ``port``."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ServiceError(f"--listen-address {address!r} is not an IP address") from None
    family = socket.AF_INET6 if ip.version == 6 else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        with contextlib.suppress(OSError):  # an older kernel: the address must exist then
            sock.setsockopt(socket.IPPROTO_IP, _IP_FREEBIND, 1)
        sock.bind((address, port))
        sock.listen(_BACKLOG)
    except OSError as err:
        sock.close()
        where = f"[{address}]:{port}" if ip.version == 6 else f"{address}:{port}"
        raise ServiceError(f"cannot listen on {where}: {err.strerror}") from err
    return Listener(sock, "")


def _listening(path: str) -> bool:
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        return False
    finally:
        probe.close()
    return True


def bind_unix(path: str) -> Listener:
    """The registration socket at ``path``, mode 0660 (rkt-metadata.socket's SocketMode)."""
    directory = Path(path).parent
    try:
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
        info = os.lstat(path)
    except FileNotFoundError:
        info = None
    except OSError as err:
        raise ServiceError(f"cannot use {path}: {err.strerror}") from err
    if info is not None:
        if not stat.S_ISSOCK(info.st_mode):
            raise ServiceError(f"{path} exists and is not a socket", hint="remove it")
        if _listening(path):
            raise ServiceError(f"another metadata service listens on {path}")
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)  # a stale socket: its service is gone
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old = os.umask(0o117)
    try:
        sock.bind(path)
        sock.listen(_BACKLOG)
    except OSError as err:
        sock.close()
        if err.errno == errno.EADDRINUSE:
            raise ServiceError(f"another metadata service listens on {path}") from err
        raise ServiceError(f"cannot listen on {path}: {err.strerror}") from err
    finally:
        os.umask(old)
    return Listener(sock, "")


def serve(listen_address: str, listen_port: int, log: Log, stop: threading.Event) -> None:
    """``rkt metadata-service``: serve until ``stop`` is set. Of the sockets systemd handed over,
    a unix one is the registration socket and TCP ones are public; what was not handed over is
    opened here (the registration socket at rkt.metadata.client.socket_path, removed at the
    end; systemd's stay, RemoveOnStop= is theirs), as rkt did."""
    from rkt.linux.activation import listen_sockets
    from rkt.metadata.client import socket_path

    handed = listen_sockets()
    registration = [s for s in handed if s.family == socket.AF_UNIX]
    public_ones = [s for s in handed if s.family in (socket.AF_INET, socket.AF_INET6)]
    made = []
    try:
        if not registration:
            path = socket_path()
            registration = [bind_unix(path)]
            made.append(path)
        if not public_ones:
            public_ones = [bind_tcp(listen_address, listen_port)]
        service = MetadataService(Registry(), public_ones, registration, log)
        service.start()
        where = ", ".join([*service.public_addresses(), *(s.describe() for s in registration)])
        log(f"metadata service running on {where}")
        while not stop.wait(1.0):
            pass
        log("metadata service exiting")
        service.stop()
    finally:
        for path in made:
            with contextlib.suppress(OSError):
                os.unlink(path)
