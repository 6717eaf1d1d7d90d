"""Hostile Docker/OCI images and registries: each is refused with a clear one-line error (or
contained), nothing is written outside the store, and the store is left as it was: no image,
no blob, no tree, no temporary file.

Layer content attacks go through ``oci:`` layouts (the same pull path as a registry's, without
a server); protocol attacks through :class:`~tests.integration.registrykit.FakeRegistry`, a
registry of our own that misbehaves on purpose (docker-registry will not).
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rkt.cli.main import main
from rkt.config import Config, ConfigDirs
from rkt.datadir import DataDir
from rkt.errors import FetchError
from rkt.fetch import Fetcher, HttpTransport
from rkt.insecure import Insecure
from rkt.store import Store
from tests import ocikit
from tests.integration.registrykit import FakeRegistry
from tests.integration.tls import Authority, clear_proxies, make_ca
from tests.unit.test_store_support import snapshot

pytestmark = [pytest.mark.integration]


@dataclass
class Env:
    tmp: Path
    outside: Path
    before: dict[str, tuple[int, int, bytes]]
    capsys: pytest.CaptureFixture[str]

    def rkt(self, *args: str) -> tuple[int, str]:
        code = main(
            [f"--dir={self.tmp / 'data'}", f"--local-config={self.tmp / 'local'}",
             f"--user-config={self.tmp / 'user'}", *args]
        )  # fmt: skip
        return code, self.capsys.readouterr().err

    def refused(self, ref: str, match: str, *options: str) -> str:
        code, err = self.rkt(f"--insecure-options={','.join(('image', *options))}", "fetch", ref)
        assert code == 254, err
        lines = [line for line in err.splitlines() if not line.startswith("image: ")]
        assert len(lines) == 1 and match in lines[0], err
        self.nothing_left()
        return lines[0]

    def nothing_left(self) -> None:
        data = DataDir(self.tmp / "data")
        with Store(data) as store:
            assert store.list() == []
        assert os.listdir(data.tmp) == []
        assert not any(data.blobs.rglob("sha512-*"))
        assert not data.trees.exists() or os.listdir(data.trees) == []
        assert snapshot(self.outside) == self.before
        assert (self.outside / "secret").read_text() == "secret"


@pytest.fixture
def env(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Env:
    clear_proxies(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("DOCKER_CONFIG", raising=False)
    outside = tmp_path / "outside"
    (outside / "dir").mkdir(parents=True)
    (outside / "secret").write_text("secret")
    (outside / "dir" / "keep").write_text("keep")
    return Env(tmp_path, outside, snapshot(outside), capsys)


def _layout(tmp: Path, *layers: list[ocikit.Entry], name: str = "layout") -> Path:
    layout = ocikit.Layout(tmp / name)
    descriptors = [layout.layer(entries) for entries in layers]
    layout.tag(layout.image(descriptors, {"Cmd": ["/bin/true"]}, arch=ocikit.host_arch()), "v1")
    return tmp / name


# --- layer content -------------------------------------------------------------------------


def test_dotdot_and_absolute_members_refused(env: Env) -> None:
    for name in ("../../outside/evil", "a/../../evil", str(env.outside / "evil")):
        layout = _layout(env.tmp, [ocikit.file(name, "x")], name=f"l{abs(hash(name))}")
        env.refused(f"oci:{layout}:v1", "layer 1/1")


def test_whiteout_through_an_earlier_symlink_refused(env: Env) -> None:
    layout = _layout(
        env.tmp,
        [ocikit.symlink("etc", str(env.outside))],
        [ocikit.whiteout("etc/secret")],
    )
    line = env.refused(f"oci:{layout}:v1", "symlink or file, not a directory; not followed")
    assert "layer 2/2" in line


def test_opaque_whiteout_through_an_earlier_symlink_refused(env: Env) -> None:
    layout = _layout(
        env.tmp,
        [ocikit.symlink("d", str(env.outside / "dir"))],
        [ocikit.directory("x"), ocikit.opaque("d")],
    )
    env.refused(f"oci:{layout}:v1", "not followed")


def test_whiteout_of_dotdot_refused(env: Env) -> None:
    layout = _layout(env.tmp, [ocikit.directory("a")], [ocikit.file("a/.wh...", b"")])
    env.refused(f"oci:{layout}:v1", "invalid whiteout")


def test_hard_links_out_refused(env: Env) -> None:
    for n, target in enumerate(("../../outside/secret", str(env.outside / "secret"))):
        layout = _layout(env.tmp, [ocikit.hardlink("h", target)], name=f"h{n}")
        env.refused(f"oci:{layout}:v1", "layer 1/1")
    # A hard link may not reach into an earlier layer either: only this layer's files.
    layout = _layout(env.tmp, [ocikit.file("f", "base")], [ocikit.hardlink("h", "f")], name="cross")
    env.refused(f"oci:{layout}:v1", "not a regular file extracted earlier here")


def test_write_through_an_earlier_symlink_is_contained(env: Env) -> None:
    """ace.md's rule, as for ACI dependencies: the earlier layer's symlink is replaced by a
    directory, never followed."""
    layout = _layout(
        env.tmp, [ocikit.symlink("link", str(env.outside))], [ocikit.file("link/pwned", "x")]
    )
    code, err = env.rkt("--insecure-options=image", "fetch", f"oci:{layout}:v1")
    assert code == 0, err
    assert snapshot(env.outside) == env.before
    code, err = env.rkt("image", "extract", "--rootfs-only", "localhost/layout:v1",
                        str(env.tmp / "x"))  # fmt: skip
    assert code == 0, err
    assert (env.tmp / "x" / "link" / "pwned").read_text() == "x"
    assert not (env.tmp / "x" / "link").is_symlink()


def test_layer_digest_mismatch_names_the_digest(env: Env) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "honest")])
    manifest = _manifest(layout)
    layer = manifest["layers"][0]["digest"]
    blob = layout / "blobs" / "sha256" / layer.partition(":")[2]
    data = bytearray(blob.read_bytes())
    data[-1] ^= 1
    blob.write_bytes(bytes(data))
    env.refused(f"oci:{layout}:v1", f"does not match its digest {layer}")


def _manifest(layout: Path) -> dict[str, Any]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"]
    result: dict[str, Any] = json.loads(
        (layout / "blobs" / "sha256" / digest.partition(":")[2]).read_text()
    )
    return result


# --- hostile registries ----------------------------------------------------------------------


@pytest.fixture
def ca(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Authority:
    (tmp_path / "ca").mkdir()
    authority = make_ca(tmp_path / "ca")
    monkeypatch.setenv("SSL_CERT_FILE", str(authority.ca_cert))
    return authority


@contextlib.contextmanager
def registry(layout: Path, authority: Authority | None, **kw: Any) -> Iterator[FakeRegistry]:
    server = FakeRegistry(layout, authority, **kw)
    try:
        yield server
    finally:
        server.close()


def test_layer_digest_mismatch_from_a_registry(env: Env, ca: Authority) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "honest")])
    layer = _manifest(layout)["layers"][0]["digest"]
    with registry(layout, ca) as server:
        real = server.blob(layer)

        def tampered(h: Any) -> bool:
            server.send(h, 200, real[:-1] + bytes([real[-1] ^ 1]))
            return True

        server.hooks[f"/v2/app/blobs/{layer}"] = tampered
        env.refused(f"docker://{server.host}/app:v1", f"does not match its digest {layer}")


def test_manifest_of_100_mb_refused(env: Env, ca: Authority) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "x")])
    with registry(layout, ca) as server:

        def huge(h: Any) -> bool:
            h.send_response(200)
            h.send_header("Content-Type", ocikit.OCI_MANIFEST)
            h.send_header("Content-Length", str(100 * 1024 * 1024))
            h.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(100):
                    h.wfile.write(b" " * (1024 * 1024))
            return True

        server.hooks["/v2/app/manifests/v1"] = huge
        env.refused(f"docker://{server.host}/app:v1", "a manifest may have")

        def endless(h: Any) -> bool:  # no length: it must be cut off by size, not by its end
            h.send_response(200)
            h.send_header("Content-Type", ocikit.OCI_MANIFEST)
            h.send_header("Connection", "close")
            h.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(100):
                    h.wfile.write(b" " * (1024 * 1024))
            h.close_connection = True
            return True

        server.hooks["/v2/app/manifests/v1"] = endless
        env.refused(f"docker://{server.host}/app:v1", "larger than")


def test_endless_layer_refused(env: Env, ca: Authority) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "x" * 10000)])
    layer = _manifest(layout)["layers"][0]["digest"]
    with registry(layout, ca) as server:

        def endless(h: Any) -> bool:
            h.send_response(200)
            h.send_header("Connection", "close")
            h.end_headers()
            with contextlib.suppress(OSError):
                for _ in range(1000):
                    h.wfile.write(os.urandom(64 * 1024))
            h.close_connection = True
            return True

        server.hooks[f"/v2/app/blobs/{layer}"] = endless
        env.refused(f"docker://{server.host}/app:v1", "sent more than the")


def test_stalling_registry_times_out(env: Env, ca: Authority) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "x")])
    with registry(layout, ca) as server:

        def stall(h: Any) -> bool:
            time.sleep(5)
            return False

        server.hooks["/v2/app/manifests/v1"] = stall
        config = Config(
            env.tmp / "data",
            ConfigDirs(env.tmp / "system", env.tmp / "local", None),
            insecure=Insecure.IMAGE,
        )
        with Store(DataDir(env.tmp / "data")) as store:
            transport = HttpTransport(read_timeout=1, auth={})
            fetcher = Fetcher(config, store, transport=transport)
            started = time.monotonic()
            with pytest.raises(FetchError, match="timed out"):
                fetcher.fetch(f"docker://{server.host}/app:v1")
            assert time.monotonic() - started < 4.5  # the timeout, not the server, ended it
        env.capsys.readouterr()
        env.nothing_left()


def test_retries_429_and_5xx(env: Env, ca: Authority) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "x")])
    with registry(layout, ca) as server:
        answers = [429, 503]

        def flaky(h: Any) -> bool:
            if answers:
                server.send(h, answers.pop(0), Retry_After="0")
                return True
            return False

        server.hooks["/v2/app/manifests/v1"] = flaky
        code, err = env.rkt("--insecure-options=image", "fetch", f"docker://{server.host}/app:v1")
        assert code == 0, err
        gets = [r for r in server.requests if r[1] == "/v2/app/manifests/v1"]
        assert len(gets) == 3


def test_blob_redirect_to_another_host_never_carries_authorization(env: Env, ca: Authority) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "x")])
    layer = _manifest(layout)["layers"][0]["digest"]
    with registry(layout, ca) as storage, registry(layout, ca, bearer=True) as server:

        def redirect(h: Any) -> bool:
            server.send(h, 307, Location=f"{storage.base}/v2/app/blobs/{layer}")
            return True

        server.hooks[f"/v2/app/blobs/{layer}"] = redirect
        code, err = env.rkt("--insecure-options=image", "fetch", f"docker://{server.host}/app:v1")
        assert code == 0, err
        authorized = [r for r in server.requests if r[2].get("Authorization")]
        assert authorized, "the registry itself got the token"
        assert storage.requests and all("Authorization" not in r[2] for r in storage.requests)


def test_plain_http_needs_insecure_http(env: Env) -> None:
    layout = _layout(env.tmp, [ocikit.file("f", "x")])
    with registry(layout, None) as server:
        ref = f"docker://{server.host}/app:v1"
        env.refused(ref, "--insecure-options=http")
        code, err = env.rkt("--insecure-options=image,http", "--debug", "fetch", ref)
        assert code == 0, err
        assert "does not answer over https; trying http" in err
        # The store remembers where the registry answered: the update check goes there first.
        server.requests.clear()
        code, err = env.rkt("--insecure-options=image,http", "--debug", "fetch", ref)
        assert code == 0 and "is unchanged" in err, err
        assert "does not answer" not in err
        assert [r[:2] for r in server.requests] == [("HEAD", "/v2/app/manifests/v1")]


def test_untrusted_certificate_needs_insecure_tls(env: Env, tmp_path: Path) -> None:
    (tmp_path / "other-ca").mkdir()
    other = make_ca(tmp_path / "other-ca")  # SSL_CERT_FILE is not set: nobody trusts it
    layout = _layout(env.tmp, [ocikit.file("f", "x")])
    with registry(layout, other) as server:
        ref = f"docker://{server.host}/app:v1"
        env.refused(ref, "--insecure-options=tls")
        code, err = env.rkt("--insecure-options=image,tls", "fetch", ref)
        assert code == 0, err
        assert "TLS verification has been disabled" in err


# --- killed and full -------------------------------------------------------------------------


def _big_layout(tmp: Path, files: int, size: int) -> Path:
    layout = ocikit.Layout(tmp / "big")
    layers = [
        layout.layer([ocikit.file(f"d{n}/f{i}", os.urandom(size)) for i in range(files)])
        for n in range(3)
    ]
    layout.tag(layout.image(layers, {"Cmd": ["/bin/true"]}, arch=ocikit.host_arch()), "v1")
    return tmp / "big"


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_fetch_killed_while_applying_leaves_nothing(env: Env) -> None:
    import signal
    import subprocess
    import sys

    layout = _big_layout(env.tmp, 1500, 2048)
    data = DataDir(env.tmp / "data")
    process = subprocess.Popen(
        [sys.executable, "-m", "rkt.cli.main", f"--dir={data.root}", "--insecure-options=image",
         "fetch", f"oci:{layout}:v1"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while not any(data.tmp.glob("store-tree-*/rootfs/d1")):  # the second layer is going in
        assert process.poll() is None, "the fetch ended before it could be killed"
        assert time.monotonic() < deadline
        time.sleep(0.005)
    process.send_signal(signal.SIGKILL)
    process.wait()
    env.nothing_left()  # opening the store cleans what the killed fetch left in tmp/


@pytest.mark.root
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root (mounts a small tmpfs)")
def test_full_disk_is_a_clear_error_and_leaves_nothing(env: Env) -> None:
    import subprocess

    layout = _big_layout(env.tmp, 200, 8192)  # 4.8 MB of files, more than the 3 MB below
    data = env.tmp / "data"
    data.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=3m", "rocket-full", str(data)],
                   check=True)  # fmt: skip
    try:
        line = env.refused(f"oci:{layout}:v1", "No space left on device")
        assert str(data) in line
    finally:
        subprocess.run(["umount", "-l", str(data)], check=False)
