"""``rkt fetch`` end to end through ``rkt.cli.main.main``, against servers on 127.0.0.1.

Each test has its own ``--dir`` and config dirs under ``tmp_path``. HTTPS is verified with the
test CA through ``SSL_CERT_FILE`` (the CLI has no CA flag; OpenSSL reads that variable), or
not at all with ``--insecure-options=tls``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.cli.main import main
from tests.integration.test_fetch_servers import (
    Authority,
    Image,
    LocalServer,
    build_image,
)
from tests.trustkit import Signer

pytestmark = pytest.mark.usefixtures("no_proxies")

NAME = "127.0.0.1/app"


def rkt(tmp_path: Path, *args: str) -> list[str]:
    return [
        f"--dir={tmp_path / 'data'}",
        f"--system-config={tmp_path / 'system'}",
        f"--local-config={tmp_path / 'local'}",
        f"--user-config={tmp_path / 'user'}",
        *args,
    ]


@pytest.fixture
def signer(tmp_path: Path) -> Signer:
    signer = Signer.generate()
    signer.install(tmp_path / "local", NAME)
    return signer


def signed_image(tmp_path: Path, signer: Signer, name: str = NAME, version: str = "1.0.0") -> Image:
    directory = tmp_path / "images"
    directory.mkdir(exist_ok=True)
    image = build_image(directory, name, version=version)
    signer.sign_file(image.path)
    return image


def serve(server: LocalServer, path: str, image_path: Path, *, signature: bool = True) -> str:
    server.serve(path, image_path.read_bytes())
    if signature:
        server.serve(path + ".asc", image_path.with_name(image_path.name + ".asc").read_bytes())
    return server.url(path)


def test_fetch_https_prints_the_short_id(
    tmp_path: Path,
    signer: Signer,
    https_server: LocalServer,
    test_ca: Authority,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(test_ca.ca_cert))
    image = signed_image(tmp_path, signer)
    url = serve(https_server, "/app.aci", image.path)
    assert main(rkt(tmp_path, "fetch", url)) == 0
    out = capsys.readouterr().out
    assert out == image.id[: len("sha512-") + 32] + "\n"
    assert main(rkt(tmp_path, "fetch", "--full", url)) == 0
    assert capsys.readouterr().out == image.id + "\n"


def test_insecure_tls_needs_no_ca(
    tmp_path: Path, signer: Signer, https_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    image = signed_image(tmp_path, signer)
    url = serve(https_server, "/app.aci", image.path)
    assert main(rkt(tmp_path, "fetch", url)) == 254
    err = capsys.readouterr().err
    assert err.startswith("fetch: ") and "TLS" in err and err.count("\n") == 1
    assert main(rkt(tmp_path, "--insecure-options=tls", "fetch", "--full", url)) == 0
    captured = capsys.readouterr()
    assert captured.out == image.id + "\n"
    assert "TLS verification has been disabled" in captured.err


def test_plain_http_without_signature_needs_both_options(
    tmp_path: Path, signer: Signer, http_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    image = signed_image(tmp_path, signer)
    url = serve(http_server, "/app.aci", image.path, signature=False)
    assert main(rkt(tmp_path, "--insecure-options=http", "fetch", url)) == 254
    assert "signature not found" in capsys.readouterr().err
    assert main(rkt(tmp_path, "--insecure-options=http,image", "fetch", "--full", url)) == 0
    captured = capsys.readouterr()
    assert captured.out == image.id + "\n"
    assert "signature verification has been disabled" in captured.err


def test_several_images_with_signatures_and_store_hashes(
    tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    first = signed_image(tmp_path, signer, version="1.0.0")
    second = signed_image(tmp_path, signer, version="2.0.0")
    moved = tmp_path / "second.sig"
    second.path.with_name(second.path.name + ".asc").rename(moved)
    args = ["fetch", "--full", str(first.path), str(second.path), "--signature", str(moved)]
    assert main(rkt(tmp_path, *args)) == 0
    assert capsys.readouterr().out == f"{first.id}\n{second.id}\n"
    # A hash prefix is looked up in the store, whatever the pull policy.
    assert main(rkt(tmp_path, "fetch", "--pull-policy=never", first.id[:24])) == 0
    assert capsys.readouterr().out == first.id[: len("sha512-") + 32] + "\n"


def test_failures_exit_254_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(rkt(tmp_path, "fetch", "--pull-policy=never", f"{NAME}:1.0.0")) == 254
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.startswith("fetch: ") and captured.err.count("\n") == 1
    assert main(rkt(tmp_path, "fetch")) == 254
    assert "at least one image" in capsys.readouterr().err
    assert main(rkt(tmp_path, "fetch", str(tmp_path / "missing.aci"))) == 254
    assert "missing.aci" in capsys.readouterr().err


def test_nothing_printed_when_a_later_image_fails(
    tmp_path: Path, signer: Signer, capsys: pytest.CaptureFixture[str]
) -> None:
    image = signed_image(tmp_path, signer)
    assert main(rkt(tmp_path, "fetch", str(image.path), str(tmp_path / "nope.aci"))) == 254
    assert capsys.readouterr().out == ""


def test_an_explicit_http_url_needs_no_insecure_option(
    tmp_path: Path, signer: Signer, http_server: LocalServer, capsys: pytest.CaptureFixture[str]
) -> None:
    """As rkt 1.30: ``rkt fetch http://...`` fetches; the signature still has to verify."""
    image = signed_image(tmp_path, signer)
    url = serve(http_server, "/app.aci", image.path)
    assert main(rkt(tmp_path, "fetch", "--full", url)) == 0
    assert capsys.readouterr().out == image.id + "\n"
    unsigned = serve(http_server, "/unsigned.aci", image.path, signature=False)
    assert main(rkt(tmp_path, "fetch", "--pull-policy=update", unsigned)) == 254
    assert "signature not found" in capsys.readouterr().err
