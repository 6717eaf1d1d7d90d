"""Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1 for the tests, with
the test CA's certificate, behind htpasswd Basic auth or behind :class:`TokenServer` (a token
service of our own, issuing RS256 JWTs the registry checks against our signing certificate),
and images pushed to it with ``skopeo copy`` from OCI layouts (:mod:`tests.ocikit`).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.integration.tls import Authority, make_ca, server_context

REGISTRY = "/usr/bin/docker-registry"
USER, PASSWORD = "alice", "wonderland"
SERVICE, ISSUER = "rocket-registry", "rocket-test-tokens"


def require_tools() -> None:
    missing = [t for t in (REGISTRY, "skopeo", "htpasswd", "openssl") if not shutil.which(t)]
    if missing:
        pytest.skip(f"needs {', '.join(missing)} (scripts/setup.sh installs them)")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, process: subprocess.Popen[bytes], deadline: float = 20) -> None:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(f"docker-registry exited with {process.returncode}")
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class TokenServer:
    """A token service (distribution docs/spec/auth/token.md) on 127.0.0.1 over HTTPS: it
    grants ``pull,push`` to the user with the right password, ``pull`` on ``public/*``
    repositories to anyone, nothing otherwise. ``requests`` records what it was asked."""

    directory: Path
    authority: Authority
    lifetime: int = 300
    requests: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.key = self.directory / "token.key"
        self.cert = self.directory / "token.pem"
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
             "-subj", "/CN=rocket test tokens", "-keyout", str(self.key), "-out", str(self.cert)],
            check=True, capture_output=True,
        )  # fmt: skip
        der = subprocess.run(
            ["openssl", "x509", "-in", str(self.cert), "-outform", "DER"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        self._x5c = base64.b64encode(der).decode()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                auth = self.headers.get("Authorization", "")
                server.requests.append({"query": query, "authorization": auth})
                user = ""
                if auth.startswith("Basic "):
                    pair = base64.b64decode(auth[6:]).decode()
                    if pair != f"{USER}:{PASSWORD}":
                        self.send_response(401)
                        self.end_headers()
                        return
                    user = USER
                body = json.dumps(
                    {"token": server.token(user, query.get("scope", [])),
                     "expires_in": server.lifetime}
                ).encode()  # fmt: skip
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = server_context(self.authority.cert, self.authority.key)
        self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.realm = f"https://127.0.0.1:{self.port}/token"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()

    def token(self, user: str, scopes: list[str]) -> str:
        access = []
        for scope in " ".join(scopes).split():
            kind, _colon, rest = scope.partition(":")
            name, _colon, actions = rest.rpartition(":")
            granted = ["pull", "push"] if user else (["pull"] if name.startswith("public/") else [])
            wanted = [a for a in actions.split(",") if a in granted or a == "*"]
            access.append({"type": kind, "name": name, "actions": wanted})
        now = int(time.time())
        claims = {
            "iss": ISSUER, "sub": user, "aud": SERVICE, "exp": now + self.lifetime,
            "nbf": now - 10, "iat": now, "jti": os.urandom(8).hex(), "access": access,
        }  # fmt: skip
        header = {"typ": "JWT", "alg": "RS256", "x5c": [self._x5c]}
        signing_input = (
            f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
        )
        signature = subprocess.run(
            ["openssl", "dgst", "-sha256", "-sign", str(self.key)],
            input=signing_input.encode(), check=True, capture_output=True,
        ).stdout  # fmt: skip
        return f"{signing_input}.{_b64url(signature)}"

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@dataclass
class Registry:
    """A running docker-registry; ``host`` is ``127.0.0.1:PORT``."""

    directory: Path
    authority: Authority
    tokens: TokenServer | None = None
    process: subprocess.Popen[bytes] | None = None

    def start(self) -> Registry:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        if self.tokens is not None:
            auth = (
                f"  token:\n    realm: {self.tokens.realm}\n    service: {SERVICE}\n"
                f"    issuer: {ISSUER}\n    rootcertbundle: {self.tokens.cert}\n"
            )
        else:
            htpasswd = self.directory / "htpasswd"
            out = subprocess.run(
                ["htpasswd", "-Bbn", USER, PASSWORD], check=True, capture_output=True
            ).stdout
            htpasswd.write_bytes(out)
            auth = f"  htpasswd:\n    realm: rocket-test\n    path: {htpasswd}\n"
        config = self.directory / "config.yml"
        config.write_text(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.directory / 'storage'}\n"
            f"http:\n  addr: 127.0.0.1:{self.port}\n  secret: rocket-test-secret\n"
            f"  tls:\n    certificate: {self.authority.cert}\n    key: {self.authority.key}\n"
            f"auth:\n{auth}"
        )
        self.log = open(self.directory / "registry.log", "wb")  # noqa: SIM115 (closed in stop)
        self.process = subprocess.Popen(
            [REGISTRY, "serve", str(config)], stdout=self.log, stderr=subprocess.STDOUT
        )
        wait_for_port(self.port, self.process)
        self.certs = self.directory / "certs"
        self.certs.mkdir(exist_ok=True)
        shutil.copy(self.authority.ca_cert, self.certs / "ca.crt")
        return self

    def push(self, layout: Path, ref: str, repository: str, *extra: str) -> str:
        """``skopeo copy`` the layout's image ``ref`` to ``repository`` (``name:tag``);
        returns the ``docker://`` reference."""
        target = f"docker://{self.host}/{repository}"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--dest-cert-dir", str(self.certs),
             "--dest-creds", f"{USER}:{PASSWORD}", *extra, f"oci:{layout}:{ref}", target],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip
        return target

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            self.log.close()


def docker_auth(config_dir: Path, host: str, user: str = USER, password: str = PASSWORD) -> None:
    """An ``auth.d`` ``dockerAuth`` file for ``host``, as rkt documents it."""
    folder = config_dir / "auth.d"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "registry.json").write_text(
        json.dumps(
            {
                "rktKind": "dockerAuth",
                "rktVersion": "v1",
                "registries": [host],
                "credentials": {"user": user, "password": password},
            }
        )
    )


@dataclass
class RegistryPair:
    basic: Registry
    token: Registry
    tokens: TokenServer
    authority: Authority


def start_registries(directory: Path) -> Iterator[RegistryPair]:
    require_tools()
    authority = make_ca(directory)
    (directory / "basic").mkdir()
    (directory / "token").mkdir()
    tokens = TokenServer(directory / "token", authority)
    basic = Registry(directory / "basic", authority).start()
    token = Registry(directory / "token", authority, tokens).start()
    try:
        yield RegistryPair(basic, token, tokens, authority)
    finally:
        basic.stop()
        token.stop()
        tokens.close()


Handler = Any  # http.server.BaseHTTPRequestHandler, as the hooks see it
Hook = Any  # Callable[[Handler], bool]: True when it answered the request itself


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client hanging up on an endless answer is the point of some tests


@dataclass
class FakeRegistry:
    """A registry of the tests' own over HTTPS (or plain HTTP without ``authority``) that
    serves one repository from an OCI layout, for what docker-registry will not do: misbehave.
    ``hooks`` by path answer instead (a stall, endless data, a redirect, a 503); with
    ``bearer`` it challenges for a token from its own ``/token``. ``requests`` records
    ``(method, path, headers)``."""

    layout: Path
    authority: Authority | None = None
    bearer: bool = False
    hooks: dict[str, Hook] = field(default_factory=dict)
    requests: list[tuple[str, str, dict[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        index = json.loads((self.layout / "index.json").read_text())
        self.tags = {
            m["annotations"]["org.opencontainers.image.ref.name"]: m for m in index["manifests"]
        }
        registry = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_HEAD(self) -> None:
                registry.answer(self, head=True)

            def do_GET(self) -> None:
                registry.answer(self, head=False)

        self._httpd = _QuietServer(("127.0.0.1", 0), RequestHandler)
        if self.authority is not None:
            context = server_context(self.authority.cert, self.authority.key)
            self._httpd.socket = context.wrap_socket(self._httpd.socket, server_side=True)
        self.port = self._httpd.server_address[1]
        self.host = f"127.0.0.1:{self.port}"
        scheme = "https" if self.authority is not None else "http"
        self.base = f"{scheme}://{self.host}"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def blob(self, digest: str) -> bytes:
        return (self.layout / "blobs" / "sha256" / digest.partition(":")[2]).read_bytes()

    def send(
        self, h: Handler, status: int, body: bytes = b"", head: bool = False, **headers: str
    ) -> None:
        h.send_response(status)
        for key, value in headers.items():
            h.send_header(key.replace("_", "-"), value)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        if not head:
            h.wfile.write(body)

    def answer(self, h: Handler, head: bool) -> None:
        path = urlsplit(h.path).path
        self.requests.append((h.command, path, dict(h.headers.items())))
        hook = self.hooks.get(path)
        if hook is not None and hook(h):
            return
        if path == "/token":
            self.send(h, 200, json.dumps({"token": "fake-token", "expires_in": 60}).encode())
            return
        if self.bearer and h.headers.get("Authorization") != "Bearer fake-token":
            self.send(h, 401, WWW_Authenticate=f'Bearer realm="{self.base}/token",service="fake"')
            return
        parts = path.split("/")  # "", "v2", repo..., "manifests"|"blobs", reference
        if len(parts) < 5 or parts[1] != "v2":
            self.send(h, 404, head=head)
            return
        kind, reference = parts[-2], parts[-1]
        try:
            if kind == "manifests":
                digest = self.tags[reference]["digest"] if ":" not in reference else reference
                data = self.blob(digest)
                media = json.loads(data).get("mediaType", ocikit_manifest_type())
                self.send(h, 200, data, head, Content_Type=media, Docker_Content_Digest=digest)
            else:
                self.send(h, 200, self.blob(reference), head)
        except (KeyError, FileNotFoundError):
            self.send(h, 404, head=head)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


def ocikit_manifest_type() -> str:
    return "application/vnd.oci.image.manifest.v1+json"
