"""Discovery against real HTTP(S) servers on 127.0.0.1, and ``actool discover`` end to end.

Runs as any user: the servers listen on port 0 of 127.0.0.1, which is the only address any
request here goes to (proxies from the environment are switched off). The HTTPS server's
certificate is made for the test with the ``openssl`` CLI and trusted through the transport's
TLS context, so certificate verification stays on. The comparison with the reference
``actool`` is marked ``reference``.
"""

from __future__ import annotations

import argparse
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appc.actool import discover as actool_discover
from appc.discovery import (
    ACIEndpoint,
    App,
    Insecure,
    UrllibTransport,
    discover_aci_endpoints,
    discover_public_keys,
)
from appc.errors import DiscoveryError
from tests.integration.tls import Certificate, self_signed, server_context

pytestmark = pytest.mark.usefixtures("no_proxies")

REFERENCE_ACTOOL = "/usr/bin/actool"

PAGE = """<!DOCTYPE html>
<html><head><title>myapp</title>
<meta name="ac-discovery" content="127.0.0.1 https://storage.example.com/{os}/{arch}/{name}-{version}.{ext}">
<meta name="ac-discovery" content="127.0.0.1 hdfs://storage.example.com/{name}-{version}-{channel}.{ext}">
<meta name="ac-discovery-pubkeys" content="127.0.0.1 https://example.com/pubkeys.gpg">
</head><body><h1>myapp</h1></body></html>
"""

APP = App("127.0.0.1/myapp", {"version": "1.0.0", "os": "linux", "arch": "amd64"})
EXPECTED = [
    ACIEndpoint(
        "https://storage.example.com/linux/amd64/127.0.0.1/myapp-1.0.0.aci",
        "https://storage.example.com/linux/amd64/127.0.0.1/myapp-1.0.0.aci.asc",
    )
]


@dataclass
class Route:
    status: int = 200
    body: bytes = PAGE.encode()
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/html"})


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        # Clients that hang up early (the https attempt on a plain http port, a refused
        # redirect) are expected here; socketserver would print a traceback for each.
        pass


class LocalServer:
    """A threaded HTTP (or, given a TLS context, HTTPS) server on 127.0.0.1, port 0.

    ``routes`` maps a request path with its query (``/myapp?ac-discovery=1``) to a Route;
    any other path is a 404. ``requests`` records the paths asked for.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, Route] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                route = server.routes.get(self.path, Route(404, b"not found"))
                self.send_response(route.status)
                for name, value in route.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(route.body)))
                self.end_headers()
                self.wfile.write(route.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        # A short poll interval makes shutdown() (which waits for the next poll) quick.
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


# http_server and https_server override conftest.py's: this module's own LocalServer (discovery
# routes), and a self-signed certificate that the clients trust directly.
@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def https_server(certificate: Certificate) -> Iterator[LocalServer]:
    with LocalServer(server_context(certificate.cert, certificate.key)) as server:
        yield server


@pytest.fixture
def trusting(certificate: Certificate) -> UrllibTransport:
    """A transport that verifies servers against the test's certificate only."""
    return UrllibTransport(
        context=ssl.create_default_context(cafile=str(certificate.cert)), timeout=5
    )


# --- plain HTTP ---------------------------------------------------------------------------


def test_plain_http_needs_insecure(http_server: LocalServer) -> None:
    http_server.routes["/myapp?ac-discovery=1"] = Route()
    insecure = Insecure.HTTP
    transport = UrllibTransport(insecure=insecure, timeout=5)
    endpoints, attempts = discover_aci_endpoints(
        APP, transport=transport, insecure=insecure, port=http_server.port
    )
    assert endpoints == EXPECTED
    assert attempts == []
    keys, _ = discover_public_keys(
        APP, transport=transport, insecure=insecure, port=http_server.port
    )
    assert keys == ["https://example.com/pubkeys.gpg"]

    http_server.requests.clear()
    with pytest.raises(DiscoveryError, match=r"https://127\.0\.0\.1:\d+/myapp\?ac-discovery=1"):
        discover_aci_endpoints(APP, transport=UrllibTransport(timeout=5), port=http_server.port)
    assert http_server.requests == []  # no plain-text request was made


def test_plain_http_walks_up_to_the_host(http_server: LocalServer) -> None:
    http_server.routes["/?ac-discovery=1"] = Route()
    app = App("127.0.0.1/myapp/sub", APP.labels)
    endpoints, attempts = discover_aci_endpoints(
        app, transport=UrllibTransport(timeout=5), insecure=Insecure.HTTP, port=http_server.port
    )
    assert endpoints == [
        ACIEndpoint(
            "https://storage.example.com/linux/amd64/127.0.0.1/myapp/sub-1.0.0.aci",
            "https://storage.example.com/linux/amd64/127.0.0.1/myapp/sub-1.0.0.aci.asc",
        )
    ]
    assert [a.prefix for a in attempts] == ["127.0.0.1/myapp/sub", "127.0.0.1/myapp"]
    assert http_server.requests == [
        "/myapp/sub?ac-discovery=1",
        "/myapp?ac-discovery=1",
        "/?ac-discovery=1",
    ]


# --- HTTPS --------------------------------------------------------------------------------


def test_https_verified_against_the_test_ca(
    https_server: LocalServer, trusting: UrllibTransport
) -> None:
    https_server.routes["/myapp?ac-discovery=1"] = Route()
    endpoints, attempts = discover_aci_endpoints(APP, transport=trusting, port=https_server.port)
    assert endpoints == EXPECTED
    assert attempts == []


def test_https_untrusted_certificate_is_an_error(https_server: LocalServer) -> None:
    https_server.routes["/myapp?ac-discovery=1"] = Route()
    with pytest.raises(DiscoveryError, match="certificate verify failed"):
        discover_aci_endpoints(APP, transport=UrllibTransport(timeout=5), port=https_server.port)


def test_https_insecure_tls_skips_verification(https_server: LocalServer) -> None:
    https_server.routes["/myapp?ac-discovery=1"] = Route()
    transport = UrllibTransport(insecure=Insecure.TLS, timeout=5)
    endpoints, _ = discover_aci_endpoints(APP, transport=transport, port=https_server.port)
    assert endpoints == EXPECTED


# --- redirects ----------------------------------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_redirect_is_followed(
    https_server: LocalServer, trusting: UrllibTransport, status: int
) -> None:
    https_server.routes["/myapp?ac-discovery=1"] = Route(
        status, b"", {"Location": "/pages/myapp.html"}
    )
    https_server.routes["/pages/myapp.html"] = Route()
    endpoints, _ = discover_aci_endpoints(APP, transport=trusting, port=https_server.port)
    assert endpoints == EXPECTED
    assert https_server.requests == ["/myapp?ac-discovery=1", "/pages/myapp.html"]


def test_redirect_to_plain_http_is_refused_unless_insecure(
    https_server: LocalServer, http_server: LocalServer, certificate: Certificate
) -> None:
    https_server.routes["/myapp?ac-discovery=1"] = Route(
        302, b"", {"Location": http_server.url("/myapp.html")}
    )
    http_server.routes["/myapp.html"] = Route()
    context = ssl.create_default_context(cafile=str(certificate.cert))
    with pytest.raises(DiscoveryError, match="refused redirect to http://"):
        discover_aci_endpoints(
            APP, transport=UrllibTransport(context=context, timeout=5), port=https_server.port
        )
    assert http_server.requests == []

    transport = UrllibTransport(context=context, insecure=Insecure.HTTP, timeout=5)
    endpoints, _ = discover_aci_endpoints(
        APP, transport=transport, insecure=Insecure.HTTP, port=https_server.port
    )
    assert endpoints == EXPECTED
    assert http_server.requests == ["/myapp.html"]


def test_unreachable_server_is_an_error_not_a_traceback() -> None:
    with socket.socket() as probe:  # a port that was free a moment ago, now closed again
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with pytest.raises(DiscoveryError, match="refused"):
        discover_aci_endpoints(
            APP, transport=UrllibTransport(timeout=5), insecure=Insecure.HTTP, port=port
        )


# --- actool discover ----------------------------------------------------------------------


def actool_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    actool_discover.add_arguments(parser)
    return parser.parse_args(argv)


def test_actool_discover_text_and_json(
    http_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/myapp?ac-discovery=1"] = Route()
    port = str(http_server.port)
    app = "127.0.0.1/myapp/sub:1.0.0,os=linux,arch=amd64,channel=beta"
    assert actool_discover.run(actool_args("--insecure", "--port", port, app)) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("discover endpoints walk: prefix: 127.0.0.1/myapp/sub error: ")
    assert out[1].startswith("discover public keys walk: prefix: 127.0.0.1/myapp/sub error: ")
    assert out[2:] == [
        "ACI: https://storage.example.com/linux/amd64/127.0.0.1/myapp/sub-1.0.0.aci, "
        "ASC: https://storage.example.com/linux/amd64/127.0.0.1/myapp/sub-1.0.0.aci.asc",
        "ACI: hdfs://storage.example.com/127.0.0.1/myapp/sub-1.0.0-beta.aci, "
        "ASC: hdfs://storage.example.com/127.0.0.1/myapp/sub-1.0.0-beta.aci.asc",
        "PublicKeys: https://example.com/pubkeys.gpg",
    ]

    assert actool_discover.run(actool_args("--json", "--insecure", "--port", port, app)) == 0
    captured = capsys.readouterr()
    assert captured.out.startswith('{\n    "ACIEndpoints": [\n')
    assert "walk: prefix: 127.0.0.1/myapp/sub" in captured.err


def test_actool_discover_reports_failures_and_goes_on(
    http_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    http_server.routes["/good?ac-discovery=1"] = Route()
    argv = ("--insecure", "--port", str(http_server.port), "127.0.0.1/missing", "127.0.0.1/good")
    assert actool_discover.run(actool_args(*argv)) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("error fetching endpoints for 127.0.0.1/missing: ")
    assert "PublicKeys: https://example.com/pubkeys.gpg" in captured.out


@pytest.mark.reference
@pytest.mark.parametrize("scheme", ["http", "https"])
@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_actool_discover_matches_the_reference(
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    scheme: str,
    json_flag: list[str],
) -> None:
    if not Path(REFERENCE_ACTOOL).exists():
        pytest.skip("the reference actool is not installed (apt-get install appc-spec)")
    server: LocalServer = request.getfixturevalue(f"{scheme}_server")
    server.routes["/myapp?ac-discovery=1"] = Route()
    argv = [*json_flag, "--insecure", "--port", str(server.port),
            "127.0.0.1/myapp:2.0,os=linux,arch=amd64,channel=beta&more"]  # fmt: skip
    reference = subprocess.run(
        [REFERENCE_ACTOOL, "discover", *argv], capture_output=True, text=True, timeout=60
    )
    assert reference.returncode == 0, reference.stderr
    assert actool_discover.run(actool_args(*argv)) == 0
    assert capsys.readouterr().out == reference.stdout
