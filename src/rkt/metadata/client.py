"""The registration protocol's client: what ``rkt run --mds-register`` and the pod's end use.

rkt's stage0/registration.go, over HTTP on the service's unix socket (:mod:`rkt.metadata.private`
has the paths). :func:`register` sends the pod manifest with a fresh token (128 random bits,
ace.md's minimum) and the pod's addresses, then each app's image manifest, and records the
registration in the pod directory (``mds-registered``, rkt's name, holding the socket's path)
so that :func:`unregister` — at the pod's end, by ``rkt stop`` or by gc, whichever comes first
— knows where to go; it removes the record once the service has forgotten the pod, so a
second call does nothing. The standard library only: the pod's end imports this.
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import os
import secrets
import socket
from collections.abc import Sequence
from pathlib import Path

from rkt import jsondoc
from rkt.errors import ServiceError
from rkt.pod import layout

__all__ = [
    "DEFAULT_SOCKET",
    "PORT",
    "REGISTERED",
    "SOCKET_ENV",
    "check_available",
    "metadata_url",
    "register",
    "socket_path",
    "unregister",
]

#: rkt's common.MetadataServiceRegSock and MetadataServicePort
DEFAULT_SOCKET = "/run/rkt/metadata-svc.sock"
PORT = 18112
#: Where a registration socket other than rkt's is named, for the service and for stage0 alike
#: (a second service on one host, or tests): one variable, so that both always agree.
SOCKET_ENV = "RKT_METADATA_SOCKET"
#: In the pod directory once the pod is registered: the socket's path.
REGISTERED = layout.MDS_REGISTERED
TIMEOUT = 10.0
_UNREACHABLE_HINT = (
    "start it with `rkt metadata-service` (or its systemd units), or run the pod without "
    "--mds-register"
)


def socket_path(environ: dict[str, str] | os._Environ[str] | None = None) -> str:
    env = os.environ if environ is None else environ
    return env.get(SOCKET_ENV) or DEFAULT_SOCKET


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost", timeout=TIMEOUT)
        self.socket_path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self.socket_path)
        except OSError:
            sock.close()
            raise
        self.sock = sock


def _request(
    path: str, method: str, target: str, body: bytes | None = None, accept: tuple[int, ...] = (200,)
) -> bytes:
    connection = _UnixConnection(path)
    try:
        try:
            connection.request(method, target, body=body)
            response = connection.getresponse()
            data = response.read()
        except OSError as err:
            raise ServiceError(
                f"cannot reach the metadata service at {path}: {err.strerror or err}",
                hint=_UNREACHABLE_HINT,
            ) from err
    finally:
        connection.close()
    if response.status not in accept:
        text = data.decode("utf-8", "replace").strip()
        raise ServiceError(
            f"metadata service at {path}: {method} {target.split('?')[0]}: {response.status} {text}"
        )
    return data


def check_available(path: str) -> None:
    """rkt's CheckMdsAvailability: a connection to the registration socket, or a clear error."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
    sock.settimeout(TIMEOUT)
    try:
        sock.connect(path)
    except OSError as err:
        raise ServiceError(
            f"cannot reach the metadata service at {path}: {err.strerror or err}",
            hint=_UNREACHABLE_HINT,
        ) from err
    finally:
        sock.close()


def _split(listen: str) -> tuple[str, int] | None:
    """``host:port`` or ``[v6]:port`` of the service's list; None for a unix socket."""
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or listen.startswith("unix:"):
        return None
    return host.removeprefix("[").removesuffix("]"), int(port)


def metadata_url(listen: Sequence[str], token: str, gateway: str | None) -> str:
    """``AC_METADATA_URL`` (rkt's MetadataServicePublicURL): ``http://<host>:<port>/<token>``,
    where the host is the pod's gateway (the host's end of its first network) and the service
    takes requests there (that address, or all of its family's), or, for a pod in the host's
    network (``gateway`` None), the loopback address if the service listens on it, else the
    first address it listens on."""
    endpoints = [e for e in (_split(item) for item in listen) if e is not None]
    if not endpoints:
        raise ServiceError(f"the metadata service listens on no TCP address ({listen})")
    if gateway is None:
        for host, port in endpoints:
            if host in ("0.0.0.0", "::", "127.0.0.1"):
                return f"http://127.0.0.1:{port}/{token}"
        host, port = endpoints[0]
        return f"http://{_bracket(host)}:{port}/{token}"
    family = ipaddress.ip_address(gateway).version
    for host, port in endpoints:
        any_address = "0.0.0.0" if family == 4 else "::"
        # A dual-stack "::" listener takes IPv4 too (bindv6only is off by default).
        if host in (gateway, any_address, "::"):
            return f"http://{_bracket(gateway)}:{port}/{token}"
    raise ServiceError(
        f"the metadata service listens on {', '.join(listen)}, which the pod cannot reach "
        f"through its gateway {gateway}",
        hint=f"run it on all addresses (the default) or on {gateway}",
    )


def _bracket(host: str) -> str:
    return f"[{host}]" if ":" in host else host


def register(
    pod_dir: Path,
    uuid: str,
    apps: Sequence[str],
    path: str,
    addresses: Sequence[str],
    gateway: str | None,
) -> str:
    """Register the pod (its manifest, apps, addresses) and return its ``AC_METADATA_URL``.
    On any failure, what was registered is removed before the error is raised."""
    token = secrets.token_hex(16)
    manifest = (pod_dir / layout.MANIFEST).read_bytes()
    query = "&".join([f"token={token}", *(f"ip={a}" for a in addresses)])
    answer = _request(path, "PUT", f"/pods/{uuid}?{query}", manifest)
    try:
        (pod_dir / REGISTERED).write_text(path)
        for app in apps:
            image = (pod_dir / layout.app_image_manifest(app)).read_bytes()
            _request(path, "PUT", f"/pods/{uuid}/{app}", image)
        listen = jsondoc.loads(answer).get("listen") or []
        return metadata_url([str(item) for item in listen], token, gateway)
    except BaseException:
        unregister(pod_dir, uuid)
        raise


def unregister(pod_dir: Path, uuid: str) -> list[str]:
    """Forget the pod at the service it was registered with, if it was; the errors (a service
    that is gone forgot it anyway: the record is removed then too)."""
    try:
        path = (pod_dir / REGISTERED).read_text().strip()
    except FileNotFoundError:
        return []
    except OSError as err:
        return [f"cannot read {pod_dir / REGISTERED}: {err.strerror}"]
    errors: list[str] = []
    try:
        _request(path, "DELETE", f"/pods/{uuid}", accept=(200, 404))  # 404: restarted since
    except ServiceError as err:
        if not isinstance(err.__cause__, OSError):  # not reached: it is gone, and forgot
            errors.append(str(err))
    with contextlib.suppress(FileNotFoundError):
        os.unlink(pod_dir / REGISTERED)
    return errors
