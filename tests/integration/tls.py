"""Certificates for the tests' HTTPS servers on 127.0.0.1, made with the openssl CLI, and the
environment clean-up that keeps every request on this machine.

- :func:`self_signed` — one certificate for IP 127.0.0.1 that clients trust directly;
- :func:`make_ca` — a test CA and a server certificate it issued, for clients that trust a CA;
- :func:`server_context` — an ``ssl`` server context for either;
- :func:`clear_proxies` — a proxy from the environment would send requests elsewhere.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

_EC = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes")


@dataclass(frozen=True)
class Certificate:
    cert: Path
    key: Path


@dataclass(frozen=True)
class Authority:
    ca_cert: Path
    cert: Path
    key: Path


def _openssl(*args: str) -> None:
    if shutil.which("openssl") is None:
        pytest.skip("the openssl CLI is needed to make certificates for 127.0.0.1")
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def self_signed(directory: Path) -> Certificate:
    cert, key = directory / "cert.pem", directory / "key.pem"
    _openssl("req", "-x509", *_EC, "-days", "2", "-subj", "/CN=127.0.0.1",
             "-addext", "subjectAltName=IP:127.0.0.1",
             "-keyout", str(key), "-out", str(cert))  # fmt: skip
    return Certificate(cert, key)


def make_ca(directory: Path) -> Authority:
    """A CA and a server certificate it issued for IP 127.0.0.1."""
    ca_key, ca_cert = directory / "ca.key", directory / "ca.pem"
    key, csr, cert = directory / "server.key", directory / "server.csr", directory / "server.pem"
    ext = directory / "server.ext"
    _openssl("req", "-x509", *_EC, "-days", "2", "-subj", "/CN=Rocket Test CA",
             "-keyout", str(ca_key), "-out", str(ca_cert))  # fmt: skip
    _openssl("req", *_EC, "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(csr))
    ext.write_text("subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n")
    _openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key),
             "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", str(cert))  # fmt: skip
    return Authority(ca_cert, cert, key)


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    return context


def clear_proxies(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
