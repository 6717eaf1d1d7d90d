"""The Fetcher against real HTTP(S) servers on 127.0.0.1, with the real store and keystore.

Each test has its own data dir and config dirs under ``tmp_path``, images built with
``appc.aci.build`` and keys made by :mod:`tests.trustkit`. TLS verification stays on through
the test CA passed to :class:`~rkt.fetch.http.HttpTransport` as a CA bundle.
"""

from __future__ import annotations

import base64
import io
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from rkt.config import Config, ConfigDirs, load_auth
from rkt.datadir import DataDir
from rkt.errors import FetchError, ImageNotFound, SignatureError
from rkt.fetch import Fetcher, HttpTransport
from rkt.insecure import Insecure
from rkt.store import Store
from rkt.trust import Keystore
from tests.integration.test_fetch_servers import (
    Authority,
    Image,
    LocalServer,
    build_image,
    discovery_page,
    image_path,
    write_auth,
)
from tests.trustkit import Signer

pytestmark = pytest.mark.usefixtures("no_proxies")

NAME = "127.0.0.1/app"


@dataclass
class Session:
    fetcher: Fetcher
    store: Store

    def fetch(self, arg: str, **options: Any) -> str:
        return self.fetcher.fetch(arg, **options)


@dataclass
class Env:
    root: Path
    ca: Authority
    signer: Signer

    @property
    def dirs(self) -> ConfigDirs:
        return ConfigDirs(system=self.root / "system", local=self.root / "local", user=None)

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def config(self, insecure: Insecure = Insecure.NONE, trust_https: bool = False) -> Config:
        return Config(
            data_dir=self.data_dir,
            dirs=self.dirs,
            insecure=insecure,
            trust_keys_from_https=trust_https,
        )

    def transport(self, insecure: Insecure = Insecure.NONE, *, ca: bool = True) -> HttpTransport:
        return HttpTransport(
            insecure=insecure,
            auth=load_auth(self.dirs),
            ca_bundle=self.ca.ca_cert if ca else None,
            read_timeout=10,
        )

    @contextmanager
    def fetcher(
        self,
        insecure: Insecure = Insecure.NONE,
        *,
        ca: bool = True,
        trust_https: bool = False,
        port: int | None = None,
    ) -> Iterator[Session]:
        with Store(DataDir(self.data_dir)) as store:
            fetcher = Fetcher(
                self.config(insecure, trust_https),
                store,
                Keystore(self.dirs),
                transport=self.transport(insecure, ca=ca),
                stderr=io.StringIO(),
                discovery_port=port,
            )
            yield Session(fetcher, store)

    def trust(self, prefix: str = NAME) -> None:
        self.signer.install(self.dirs.local, prefix)

    def image(self, name: str = NAME, **options: object) -> Image:
        directory = self.root / "images"
        directory.mkdir(exist_ok=True)
        image = build_image(directory, name, **options)  # type: ignore[arg-type]
        self.signer.sign_file(image.path)
        return image


@pytest.fixture
def env(tmp_path: Path, test_ca: Authority) -> Env:
    return Env(tmp_path, test_ca, Signer.generate())


def serve_signed(server: LocalServer, path: str, image: Image, **options: object) -> str:
    server.serve_image(path, image, **options)
    asc = image.path.with_name(image.path.name + ".asc").read_bytes()
    server.serve(path + ".asc", asc)
    return server.url(path)


def image_ids(store: Store) -> list[str]:
    return [record.id for record in store.list()]


# --- TLS, HTTP and signatures -----------------------------------------------------------------


def test_https_url_with_ca_bundle_is_verified_stored_and_rendered(
    env: Env, https_server: LocalServer
) -> None:
    image = env.image(files={"etc/hello": b"hi"})
    env.trust()
    url = serve_signed(https_server, "/app.aci", image)
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
        assert s.store.get(image.id).name == NAME
        assert (
            DataDir(env.data_dir).tree(image.id) / "rootfs" / "etc" / "hello"
        ).read_bytes() == b"hi"
        assert s.store.get_remote(url) is not None


def test_https_without_the_ca_fails_and_insecure_tls_skips_the_check(
    env: Env, https_server: LocalServer
) -> None:
    image = env.image()
    env.trust()
    url = serve_signed(https_server, "/app.aci", image)
    with env.fetcher(ca=False) as s, pytest.raises(FetchError, match="TLS"):
        s.fetch(url)
    with env.fetcher(Insecure.TLS, ca=False) as s:
        assert s.fetch(url) == image.id


def test_an_explicit_http_url_is_fetched_and_its_signature_checked(
    env: Env, http_server: LocalServer
) -> None:
    """As rkt: an http:// image URL the user gives needs no --insecure-options=http; the
    signature must still verify (or --insecure-options=image)."""
    image = env.image()
    env.trust()
    url = serve_signed(http_server, "/app.aci", image)
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    unsigned = env.image(version="2.0.0")
    url = http_server.url("/unsigned.aci")
    http_server.serve("/unsigned.aci", unsigned.path.read_bytes())
    with env.fetcher() as s, pytest.raises(SignatureError, match="signature not found"):
        s.fetch(url)
    with env.fetcher(Insecure.IMAGE) as s:
        assert s.fetch(url) == unsigned.id


def test_redirect_from_https_to_http_is_refused(
    env: Env, https_server: LocalServer, http_server: LocalServer
) -> None:
    image = env.image()
    env.trust()
    serve_signed(http_server, "/app.aci", image)
    https_server.serve("/app.aci", b"", redirect=http_server.url("/app.aci"))
    https_server.serve("/app.aci.asc", b"", redirect=http_server.url("/app.aci.asc"))
    with env.fetcher() as s, pytest.raises(FetchError, match="refused redirect"):
        s.fetch(https_server.url("/app.aci"))
    assert http_server.requests == []


def test_redirects_are_followed(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    serve_signed(https_server, "/real/app.aci", image)
    https_server.serve("/app.aci", b"", redirect="/real/app.aci")
    https_server.serve("/app.aci.asc", b"", redirect=https_server.url("/real/app.aci.asc"))
    with env.fetcher() as s:
        assert s.fetch(https_server.url("/app.aci")) == image.id


def test_missing_signature_fails_closed(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    https_server.serve_image("/app.aci", image)
    with env.fetcher() as s, pytest.raises(SignatureError, match="404"):
        s.fetch(https_server.url("/app.aci"))
        assert image_ids(s.store) == []
    with env.fetcher(Insecure.IMAGE) as s:
        assert s.fetch(https_server.url("/app.aci")) == image.id


def test_untrusted_key_is_refused(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    Signer.generate("Someone Else <else@rocket.invalid>").install(env.dirs.local, NAME)
    url = serve_signed(https_server, "/app.aci", image)
    with env.fetcher() as s, pytest.raises(SignatureError):
        s.fetch(url)
        assert image_ids(s.store) == []


def test_key_for_another_prefix_does_not_count(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust("127.0.0.1/application")  # not a path-segment prefix of 127.0.0.1/app
    url = serve_signed(https_server, "/app.aci", image)
    with env.fetcher() as s, pytest.raises(SignatureError):
        s.fetch(url)


def test_signature_of_other_bytes_is_refused(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    https_server.serve_image("/app.aci", image)
    https_server.serve("/app.aci.asc", env.signer.sign(b"something else"))
    with env.fetcher() as s, pytest.raises(SignatureError):
        s.fetch(https_server.url("/app.aci"))
        assert image_ids(s.store) == []


# --- discovery ----------------------------------------------------------------------------------


def test_fetch_by_name_through_discovery(env: Env, https_server: LocalServer) -> None:
    image = env.image(version="1.0.0")
    latest = env.image(version="2.0.0", file_name="latest")
    env.trust()
    https_server.discovery_page = discovery_page(https_server)
    serve_signed(https_server, image_path(NAME, "1.0.0"), image)
    serve_signed(https_server, image_path(NAME, "latest"), latest)
    with env.fetcher(port=https_server.port) as s:
        assert s.fetch(f"{NAME}:1.0.0") == image.id
        assert s.fetch(NAME) == latest.id


def test_discovered_image_must_carry_the_name_asked_for(
    env: Env, https_server: LocalServer
) -> None:
    # rkt#776: a server (or someone in between) answers with another, validly signed image.
    impostor = env.image("127.0.0.1/other")
    env.trust("127.0.0.1")
    https_server.discovery_page = discovery_page(https_server)
    serve_signed(https_server, image_path(NAME, "1.0.0"), impostor)
    with env.fetcher(port=https_server.port) as s, pytest.raises(FetchError, match="name mismatch"):
        s.fetch(f"{NAME}:1.0.0")
        assert image_ids(s.store) == []


def test_discovered_image_must_carry_the_labels_asked_for(
    env: Env, https_server: LocalServer
) -> None:
    image = env.image(version="1.0.0")
    env.trust()
    https_server.discovery_page = discovery_page(https_server)
    serve_signed(https_server, image_path(NAME, "2.0.0"), image)
    with env.fetcher(port=https_server.port) as s, pytest.raises(FetchError, match="version"):
        s.fetch(f"{NAME}:2.0.0")


def test_trust_keys_from_https(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    https_server.serve("/keys/pubkey.asc", env.signer.public_key)
    https_server.discovery_page = discovery_page(
        https_server, keys=https_server.url("/keys/pubkey.asc")
    )
    serve_signed(https_server, image_path(NAME, "1.0.0"), image)
    with (
        env.fetcher(port=https_server.port) as s,
        pytest.raises(SignatureError),
    ):  # without the flag: no keys, fail closed
        s.fetch(f"{NAME}:1.0.0")
    assert https_server.requests_for("/keys/pubkey.asc") == []
    with env.fetcher(port=https_server.port, trust_https=True) as s:
        assert s.fetch(f"{NAME}:1.0.0") == image.id
    keys = Keystore(env.dirs).keys_for(NAME)
    assert [(k.fingerprint, k.prefix) for k in keys] == [(env.signer.fingerprint, NAME)]


# --- dependencies -----------------------------------------------------------------------------


def test_dependencies_are_fetched_by_name_and_rendered_first(
    env: Env, https_server: LocalServer
) -> None:
    base = env.image("127.0.0.1/base", files={"base.txt": b"base", "shared": b"from base"})
    app = env.image(
        files={"app.txt": b"app", "shared": b"from app"},
        dependencies=[
            {
                "imageName": "127.0.0.1/base",
                "imageID": base.id,
                "labels": [{"name": "version", "value": "1.0.0"}],
            }
        ],
    )
    env.trust("127.0.0.1")
    https_server.discovery_page = discovery_page(https_server)
    serve_signed(https_server, image_path("127.0.0.1/base", "1.0.0"), base)
    url = serve_signed(https_server, "/app.aci", app)
    with env.fetcher(port=https_server.port) as s:
        assert s.fetch(url) == app.id
        assert sorted(image_ids(s.store)) == sorted([app.id, base.id])
    rootfs = DataDir(env.data_dir).tree(app.id) / "rootfs"
    assert (rootfs / "base.txt").read_bytes() == b"base"
    assert (rootfs / "app.txt").read_bytes() == b"app"
    assert (rootfs / "shared").read_bytes() == b"from app"


def test_dependency_with_another_image_id_is_refused(env: Env, https_server: LocalServer) -> None:
    base = env.image("127.0.0.1/base")
    app = env.image(
        dependencies=[{"imageName": "127.0.0.1/base", "imageID": "sha512-" + "0" * 128}]
    )
    env.trust("127.0.0.1")
    https_server.discovery_page = discovery_page(https_server)
    serve_signed(https_server, image_path("127.0.0.1/base", "latest"), base)
    url = serve_signed(https_server, "/app.aci", app)
    with (
        env.fetcher(port=https_server.port) as s,
        pytest.raises(FetchError, match="requires sha512-0000"),
    ):
        s.fetch(url)


# --- caching, resuming, pull policies ------------------------------------------------------------


def test_unchanged_etag_transfers_no_body(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    url = serve_signed(https_server, "/app.aci", image, etag='"v1"')
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    https_server.requests.clear()
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    [request] = https_server.requests_for("/app.aci")
    assert request.headers.get("If-None-Match") == '"v1"'
    assert (request.status, request.body_bytes) == (304, 0)
    # Nothing else was transferred either: an unchanged image needs no new signature.
    assert https_server.requests_for("/app.aci.asc") == []


def test_max_age_skips_the_request(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    url = serve_signed(https_server, "/app.aci", image, cache_control="max-age=600")
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    https_server.requests.clear()
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    assert https_server.requests == []


def test_no_cache_asks_every_time(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    url = serve_signed(https_server, "/app.aci", image, cache_control="max-age=600, no-cache")
    for _ in range(2):
        with env.fetcher() as s:
            assert s.fetch(url) == image.id
    assert len(https_server.requests_for("/app.aci")) == 2


def test_interrupted_download_is_resumed_with_range(env: Env, https_server: LocalServer) -> None:
    image = env.image(files={"big": os.urandom(1 << 20)})  # random: the archive stays 1 MiB
    env.trust()
    size = image.path.stat().st_size
    url = serve_signed(https_server, "/app.aci", image, etag='"v1"', cut_at=size // 2, cuts=1)
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    first, second = https_server.requests_for("/app.aci")
    assert first.body_bytes == size // 2 and "Range" not in first.headers
    assert second.headers["Range"] == f"bytes={size // 2}-"
    assert second.headers["If-Range"] == '"v1"'
    assert (second.status, second.body_bytes) == (206, size - size // 2)


def test_pull_policies(env: Env, https_server: LocalServer) -> None:
    image = env.image()
    env.trust()
    url = serve_signed(https_server, "/app.aci", image)
    https_server.discovery_page = discovery_page(https_server)
    serve_signed(https_server, image_path(NAME, "1.0.0"), image)
    with env.fetcher(port=https_server.port) as s, pytest.raises(ImageNotFound):
        s.fetch(url, pull_policy="never")
        with pytest.raises(ImageNotFound):
            s.fetch(f"{NAME}:1.0.0", pull_policy="never")
        assert https_server.requests == []
        assert s.fetch(url, pull_policy="new") == image.id
        https_server.requests.clear()
        assert s.fetch(url, pull_policy="new") == image.id
        assert s.fetch(url, pull_policy="never") == image.id
        assert s.fetch(f"{NAME}:1.0.0", pull_policy="never") == image.id
        assert s.fetch(NAME, pull_policy="new") == image.id
        assert https_server.requests == []
        assert s.fetch(image.id[:20]) == image.id
        with pytest.raises(FetchError, match="pull policy"):
            s.fetch(url, pull_policy="sometimes")


# --- files -----------------------------------------------------------------------------------


def test_local_file_with_its_signature_beside_it_or_given(env: Env) -> None:
    image = env.image()
    env.trust()
    with env.fetcher() as s:
        assert s.fetch(str(image.path)) == image.id
    moved = env.root / "elsewhere.sig"
    image.path.with_name(image.path.name + ".asc").rename(moved)
    env2 = Env(env.root / "second", env.ca, env.signer)
    env2.trust()
    with env2.fetcher() as s:
        with pytest.raises(SignatureError, match="not found"):
            s.fetch(image.path.as_uri())
        assert s.fetch(image.path.as_uri(), signature=moved) == image.id


# --- credentials ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "credentials", "header"),
    [
        (
            "basic",
            {"user": "bob", "password": "s3cret"},
            "Basic " + base64.b64encode(b"bob:s3cret").decode(),
        ),
        ("oauth", {"token": "t0ken"}, "Bearer t0ken"),
    ],
)
def test_auth_d_credentials_are_sent_to_their_host(
    env: Env, https_server: LocalServer, kind: str, credentials: dict[str, str], header: str
) -> None:
    image = env.image()
    env.trust()
    url = serve_signed(https_server, "/app.aci", image, authorization=header)
    https_server.routes["/app.aci.asc"].authorization = header
    with env.fetcher() as s, pytest.raises(FetchError, match="401"):
        s.fetch(url)
    write_auth(env.dirs.local, f"127.0.0.1:{https_server.port}", kind, credentials)
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    assert https_server.requests[-1].headers["Authorization"] == header


def test_credentials_are_not_sent_over_plain_http(env: Env, http_server: LocalServer) -> None:
    image = env.image()
    write_auth(env.dirs.local, "127.0.0.1", "oauth", {"token": "t0ken"})
    http_server.serve_image("/app.aci", image)
    with env.fetcher(Insecure.HTTP | Insecure.IMAGE) as s:
        assert s.fetch(http_server.url("/app.aci")) == image.id
    assert all("Authorization" not in r.headers for r in http_server.requests)


def test_errors_are_one_line_fetch_errors(env: Env, https_server: LocalServer) -> None:
    https_server.serve("/app.aci", b"not an image")
    with env.fetcher(Insecure.IMAGE) as s, pytest.raises(FetchError) as info:
        s.fetch(https_server.url("/app.aci"))
    assert "\n" not in str(info.value)


def test_download_broken_off_in_one_run_resumes_in_the_next(
    env: Env, https_server: LocalServer
) -> None:
    from rkt.fetch.download import ATTEMPTS
    from rkt.fetch.http import TransferInterrupted

    image = env.image(files={"big": os.urandom(1 << 20)})
    env.trust()
    size = image.path.stat().st_size
    cut = size // 3
    url = serve_signed(https_server, "/app.aci", image, etag='"v1"', cut_at=cut, cuts=ATTEMPTS)
    with env.fetcher() as s:
        # Every attempt of this run breaks off at the same byte: the fetch fails...
        with pytest.raises(TransferInterrupted):
            s.fetch(url)
        assert image_ids(s.store) == []
    # ...but keeps what it got, locked by nobody, for the next run.
    [partial] = DataDir(env.data_dir).tmp.glob("fetch-*.part")
    assert partial.stat().st_size == cut
    https_server.requests.clear()
    with env.fetcher() as s:
        assert s.fetch(url) == image.id
    [request] = https_server.requests_for("/app.aci")
    assert request.headers["Range"] == f"bytes={cut}-"
    assert (request.status, request.body_bytes) == (206, size - cut)
    assert list(DataDir(env.data_dir).tmp.glob("fetch-*")) == []
