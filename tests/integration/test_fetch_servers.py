"""Real HTTP(S) servers, images and configuration for the fetch tests, and tests of the servers.

Everything listens on 127.0.0.1, port 0, and nothing here talks to any other address (proxies
from the environment are switched off by the ``no_proxies`` fixture). The HTTPS server's
certificate is issued by a CA made for the test run with the ``openssl`` CLI, so verification
can stay on by trusting that CA. The server can require credentials, answer ``If-None-Match``
with 304, serve ``Range`` requests (with ``If-Range``) and cut the connection in the middle of
a body, and it records every request so that tests can assert on what was (not) asked.

Other fetch test modules import these helpers as ``tests.integration.test_fetch_servers``;
the fixtures serving them (``http_server``, ``https_server``, ``test_ca``, ``no_proxies``)
are in conftest.py.
"""

from __future__ import annotations

import json
import re
import socket
import ssl
import threading
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appc.aci import build
from appc.schema.labels import host_os_arch
from tests.integration.tls import Authority

pytestmark = pytest.mark.usefixtures("no_proxies")

HOST_OS, HOST_ARCH = host_os_arch()


# --- images -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Image:
    path: Path
    id: str
    name: str


def build_image(
    directory: Path,
    name: str,
    *,
    version: str = "1.0.0",
    files: Mapping[str, bytes] | None = None,
    dependencies: Sequence[Mapping[str, object]] = (),
    file_name: str | None = None,
    extra_labels: Mapping[str, str] | None = None,
) -> Image:
    """An ACI named ``name`` with labels version/os/arch (the host's) and the given files."""
    stem = file_name or f"{name.replace('/', '_')}-{version}"
    layout = directory / f"{stem}.layout"
    rootfs = layout / "rootfs"
    rootfs.mkdir(parents=True)
    for relative, content in (files or {"hello.txt": name.encode()}).items():
        target = rootfs / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
    labels = {"version": version, "os": HOST_OS, "arch": HOST_ARCH, **(extra_labels or {})}
    manifest: dict[str, object] = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": name,
        "labels": [{"name": k, "value": v} for k, v in labels.items()],
    }
    if dependencies:
        manifest["dependencies"] = list(dependencies)
    (layout / "manifest").write_text(json.dumps(manifest))
    path = directory / f"{stem}.aci"
    image_id = build(layout, path, compression="gzip", owner_root=True)
    return Image(path, image_id, name)


# --- servers ------------------------------------------------------------------------------


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    cache_control: str | None = None
    #: the next ``cuts`` GETs of the body stop at byte ``cut_at`` of the whole body (a range
    #: request starting there gets nothing) and close the connection
    cut_at: int = 0
    cuts: int = 0
    #: an exact Authorization header value the client must send, else 401
    authorization: str | None = None
    #: answer with this redirect instead of a body
    redirect: str | None = None


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    headers: dict[str, str]
    status: int
    body_bytes: int


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up early and the connections we cut on purpose are expected.
        pass


_RANGE = re.compile(r"bytes=(\d+)-$")


class LocalServer:
    """A threaded HTTP(S) server on 127.0.0.1:0 with the routes of :class:`Route`.

    ``routes`` maps a path (with query) to a route; a query containing ``ac-discovery=1``
    falls back to ``discovery_page`` when set. ``requests`` records every request.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[Request] = []
        self.discovery_page: bytes | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._answer(self, head=False)

            def do_HEAD(self) -> None:
                server._answer(self, head=True)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = _QuietServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port: int = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def serve(self, path: str, body: bytes, **options: object) -> Route:
        route = Route(body, **options)  # type: ignore[arg-type]
        self.routes[path] = route
        return route

    def serve_image(self, path: str, image: Image, **options: object) -> Route:
        return self.serve(path, image.path.read_bytes(), **options)

    def requests_for(self, path: str) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.path == path]

    def _record(self, handler: BaseHTTPRequestHandler, status: int, sent: int) -> None:
        with self._lock:
            self.requests.append(
                Request(handler.command, handler.path, dict(handler.headers.items()), status, sent)
            )

    def _route(self, path: str) -> Route | None:
        route = self.routes.get(path)
        if route is None and self.discovery_page is not None and "ac-discovery=1" in path:
            route = Route(self.discovery_page, headers={"Content-Type": "text/html"})
        return route

    def _answer(self, h: BaseHTTPRequestHandler, *, head: bool) -> None:
        route = self._route(h.path)
        if route is None:
            return self._reply(h, 404, {}, b"not found", head)
        if (
            route.authorization is not None
            and h.headers.get("Authorization") != route.authorization
        ):
            return self._reply(h, 401, {"WWW-Authenticate": 'Basic realm="x"'}, b"no", head)
        if route.redirect is not None:
            return self._reply(h, 302, {"Location": route.redirect}, b"", head)
        headers = {"Accept-Ranges": "bytes", **route.headers}
        if route.etag:
            headers["ETag"] = route.etag
        if route.cache_control:
            headers["Cache-Control"] = route.cache_control
        if route.etag and h.headers.get("If-None-Match") == route.etag:
            return self._reply(h, 304, headers, b"", head)
        if route.status != 200:
            return self._reply(h, route.status, headers, route.body, head)
        body, status = route.body, 200
        match = _RANGE.match(h.headers.get("Range", ""))
        if_range = h.headers.get("If-Range")
        if match and (if_range is None or if_range == route.etag):
            start = int(match.group(1))
            if start >= len(body):
                return self._reply(h, 416, {"Content-Range": f"bytes */{len(body)}"}, b"", head)
            headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
            body, status = body[start:], 206
        if not head and route.cuts > 0:
            route.cuts -= 1
            start = len(route.body) - len(body)
            self._cut(h, status, headers, body, max(0, route.cut_at - start))
            return None
        return self._reply(h, status, headers, body, head)

    def _reply(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        head: bool,
    ) -> None:
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        if status != 304:
            h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        sent = 0 if head or status == 304 else len(body)
        # Recorded before the body goes out: a client that has read the body may look at the
        # record at once, before this thread would get to run again.
        self._record(h, status, sent)
        if sent:
            h.wfile.write(body)

    def _cut(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        headers: Mapping[str, str],
        body: bytes,
        at: int,
    ) -> None:
        """Announce the whole body, send ``at`` bytes of it, and drop the connection."""
        h.send_response(status)
        for name, value in headers.items():
            h.send_header(name, value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        self._record(h, status, at)
        h.wfile.write(body[:at])
        h.wfile.flush()
        h.close_connection = True
        h.connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


def discovery_page(
    server: LocalServer, prefix: str = "127.0.0.1", keys: str | None = None
) -> bytes:
    """A page announcing images at ``/images/{name}-{version}-{os}-{arch}.{ext}``."""
    template = server.url("/images/{name}-{version}-{os}-{arch}.{ext}")
    tags = [f'<meta name="ac-discovery" content="{prefix} {template}">']
    if keys is not None:
        tags.append(f'<meta name="ac-discovery-pubkeys" content="{prefix} {keys}">')
    return ("<html><head>" + "".join(tags) + "</head><body></body></html>").encode()


def image_path(name: str, version: str) -> str:
    return f"/images/{name}-{version}-{HOST_OS}-{HOST_ARCH}.aci"


def write_auth(config_dir: Path, domain: str, kind: str, credentials: Mapping[str, str]) -> None:
    folder = config_dir / "auth.d"
    folder.mkdir(parents=True, exist_ok=True)
    doc = {
        "rktKind": "auth",
        "rktVersion": "v1",
        "domains": [domain],
        "type": kind,
        "credentials": dict(credentials),
    }
    (folder / f"{kind}.json").write_text(json.dumps(doc))


# --- tests of the servers themselves --------------------------------------------------------


def test_server_cuts_then_serves_ranges(http_server: LocalServer) -> None:
    http_server.serve("/x", b"0123456789", etag='"e1"', cut_at=4, cuts=1)
    with pytest.raises(Exception):  # noqa: B017 (any error: the body is short)
        urllib.request.urlopen(http_server.url("/x"), timeout=5).read()
    request = urllib.request.Request(
        http_server.url("/x"), headers={"Range": "bytes=4-", "If-Range": '"e1"'}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 206
        assert response.read() == b"456789"
    assert [r.body_bytes for r in http_server.requests] == [4, 6]


def test_server_answers_if_none_match(http_server: LocalServer) -> None:
    http_server.serve("/x", b"data", etag='"e1"')
    request = urllib.request.Request(http_server.url("/x"), headers={"If-None-Match": '"e1"'})
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 304


def test_https_server_is_verified_with_the_test_ca(
    https_server: LocalServer, test_ca: Authority
) -> None:
    https_server.serve("/x", b"data")
    context = ssl.create_default_context(cafile=str(test_ca.ca_cert))
    with urllib.request.urlopen(https_server.url("/x"), context=context, timeout=5) as response:
        assert response.read() == b"data"
