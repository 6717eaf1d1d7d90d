"""``rkt trust`` against real HTTP(S) servers on 127.0.0.1: keys by URL and by discovery.

Runs as any user. The servers listen on port 0 of 127.0.0.1, the only address any request
here goes to (proxies from the environment are switched off). The HTTPS certificate is made
for the test with the ``openssl`` CLI and trusted through ``SSL_CERT_FILE`` (for the ``rkt``
command line, whose default transport uses the system's trust store) or through the
transport's TLS context, so certificate verification stays on throughout.
"""

from __future__ import annotations

import argparse
import io
import ssl
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from appc.discovery import UrllibTransport
from rkt.cli import trust as trust_cli
from rkt.cli.main import main
from rkt.config import Config, ConfigDirs
from rkt.errors import SignatureError
from rkt.trust import Keystore, verify
from tests.integration.tls import Certificate, self_signed, server_context
from tests.trustkit import Signer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_proxies")]


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # clients refused mid-handshake (untrusted certificate) are expected here


class LocalServer:
    """A threaded HTTP(S) server on 127.0.0.1, port 0, answering ``routes`` (path → (status,
    headers, body)) and 404 otherwise; ``requests`` records the paths asked for."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.routes: dict[str, tuple[int, dict[str, str], bytes]] = {}
        self.requests: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                status, headers, body = server.routes.get(self.path, (404, {}, b"not found"))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = QuietServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.httpd.socket = tls.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.scheme = "https" if tls else "http"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )

    def url(self, path: str) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}{path}"

    def serve(
        self, path: str, body: bytes, status: int = 200, headers: dict[str, str] | None = None
    ) -> str:
        self.routes[path] = (status, headers or {}, body)
        return self.url(path)

    def __enter__(self) -> LocalServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture(autouse=True)
def no_host_trust_or_stdin(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trust only what a test sets (an ``SSL_CERT_DIR`` from the environment would add its
    CAs), and let no prompt of ``rkt trust`` read the real stdin."""
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    monkeypatch.setattr("sys.stdin", io.StringIO(""))


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> Certificate:
    return self_signed(tmp_path_factory.mktemp("tls"))


# https_server and http_server override conftest.py's: this module's own LocalServer, and a
# self-signed certificate that the clients trust directly.
@pytest.fixture
def https_server(certificate: Certificate) -> Iterator[LocalServer]:
    with LocalServer(server_context(certificate.cert, certificate.key)) as server:
        yield server


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    with LocalServer() as server:
        yield server


@pytest.fixture
def trusting_ca(certificate: Certificate, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the test's certificate the only CA the default TLS context trusts."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certificate.cert))


@pytest.fixture(scope="module")
def signer() -> Signer:
    return Signer.generate("Rocket Test <test@rocket.invalid>")


@pytest.fixture
def dirs(tmp_path: Path) -> ConfigDirs:
    return ConfigDirs(system=tmp_path / "system", local=tmp_path / "local")


def rkt_trust(dirs: ConfigDirs, *args: str) -> int:
    return main(
        ["trust", "--local-config", str(dirs.local), "--system-config", str(dirs.system), *args]
    )


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


# --- keys by URL, through the rkt command line ---------------------------------------------


def test_key_over_verified_https(
    https_server: LocalServer,
    trusting_ca: None,
    dirs: ConfigDirs,
    signer: Signer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = https_server.serve("/keys/pubkey.asc", signer.public_key)
    code = rkt_trust(dirs, "--prefix=127.0.0.1/app", "--skip-fingerprint-review", url)
    out = capsys.readouterr().out
    assert code == 0, out
    path = dirs.local / "trustedkeys/prefix.d/127.0.0.1/app" / signer.fingerprint
    assert f'Added key for prefix "127.0.0.1/app" at "{path}"' in out
    assert https_server.requests == ["/keys/pubkey.asc"]

    # The trusted key now verifies what it signed, for names under the prefix only.
    image = tmp_path / "app.aci"
    image.write_bytes(b"an image")
    keystore = Keystore(dirs)
    assert verify("127.0.0.1/app/x", image, signer.sign(b"an image"), keystore).path == path
    with pytest.raises(SignatureError, match="no keys are trusted"):
        verify("127.0.0.1/application", image, signer.sign(b"an image"), keystore)


def test_untrusted_certificate_is_refused(
    https_server: LocalServer, dirs: ConfigDirs, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = https_server.serve("/pubkey.asc", signer.public_key)
    assert rkt_trust(dirs, "--prefix=127.0.0.1", "--skip-fingerprint-review", url) == 254
    assert "certificate verify failed" in capsys.readouterr().err
    assert not dirs.local.exists()


def test_trust_keys_from_https_needs_no_review(
    https_server: LocalServer,
    trusting_ca: None,
    dirs: ConfigDirs,
    signer: Signer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = https_server.serve("/pubkey.asc", signer.public_key)
    assert rkt_trust(dirs, "--trust-keys-from-https", "--prefix=127.0.0.1", url) == 0
    assert "without fingerprint review" in capsys.readouterr().out


def test_missing_key_is_an_error(
    https_server: LocalServer,
    trusting_ca: None,
    dirs: ConfigDirs,
    capsys: pytest.CaptureFixture[str],
) -> None:
    url = https_server.url("/nothing.asc")
    assert rkt_trust(dirs, "--prefix=127.0.0.1", "--skip-fingerprint-review", url) == 254
    assert "bad HTTP status code 404" in capsys.readouterr().err


def test_plain_http_only_with_insecure_allow_http(
    http_server: LocalServer, dirs: ConfigDirs, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    url = http_server.serve("/pubkey.asc", signer.public_key)
    assert rkt_trust(dirs, "--prefix=127.0.0.1", "--skip-fingerprint-review", url) == 254
    assert "--insecure-allow-http" in capsys.readouterr().err
    assert http_server.requests == []
    args = ("--prefix=127.0.0.1", "--skip-fingerprint-review", "--insecure-allow-http", url)
    assert rkt_trust(dirs, *args) == 0
    assert (dirs.local / "trustedkeys/prefix.d/127.0.0.1" / signer.fingerprint).exists()


def test_redirect_from_https_to_http_is_refused(
    https_server: LocalServer,
    http_server: LocalServer,
    trusting_ca: None,
    dirs: ConfigDirs,
    signer: Signer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    target = http_server.serve("/pubkey.asc", signer.public_key)
    url = https_server.serve("/pubkey.asc", b"", 302, {"Location": target})
    assert rkt_trust(dirs, "--prefix=127.0.0.1", "--skip-fingerprint-review", url) == 254
    assert "refused redirect" in capsys.readouterr().err
    assert http_server.requests == []


# --- keys by discovery (ac-discovery-pubkeys) ----------------------------------------------


def test_key_discovered_and_reviewed(
    https_server: LocalServer, certificate: Certificate, dirs: ConfigDirs, signer: Signer
) -> None:
    key_url = https_server.serve("/pubkeys.asc", signer.public_key)
    page = (
        "<html><head>"
        f'<meta name="ac-discovery-pubkeys" content="127.0.0.1/app {key_url}">'
        "</head></html>"
    )
    https_server.serve("/app?ac-discovery=1", page.encode(), headers={"Content-Type": "text/html"})
    transport = UrllibTransport(
        context=ssl.create_default_context(cafile=str(certificate.cert)), timeout=5
    )
    args = argparse.Namespace(
        prefix="127.0.0.1/app",
        root=False,
        skip_fingerprint_review=False,
        insecure_allow_http=False,
        keys=[],
    )
    stdout = Tty()
    code = trust_cli.trust(
        args,
        Config(data_dir=Path("/nonexistent"), dirs=dirs),
        transport=transport,
        port=https_server.port,
        stdin=Tty("yes\n"),
        stdout=stdout,
    )
    assert code == 0
    out = stdout.getvalue()
    assert f'Key: "{key_url}"' in out
    assert "  Rocket Test <test@rocket.invalid>" in out
    assert "Are you sure you want to trust this key (yes/no)? " in out
    assert f'Trusting "{key_url}" for prefix "127.0.0.1/app" after fingerprint review.' in out
    assert https_server.requests == ["/app?ac-discovery=1", "/pubkeys.asc"]
    [key] = Keystore(dirs).keys_for("127.0.0.1/app")
    assert key.fingerprint == signer.fingerprint
