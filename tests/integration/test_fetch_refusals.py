"""A fetch that fails leaves the store exactly as it was: no blob, no row, no tree, no remote,
no temporary file (issue: "a failed command leaves nothing").

The refusal paths are those of the code's own error sites: the argument and the pull policy
(rkt.fetch.argument, fetcher), the download (rkt.fetch.download: status, TLS, a transfer
cut), the signature and the name (rkt.fetch.verification, rkt.trust), the import
(appc.aci.reader: compression, tar, manifest, limits), the render (rkt.store.extract: every
refusal of the extractor, also for images rendered only with their dependencies or whitelist)
and the dependencies (not found, another ID than the manifest requires, a hostile dependency,
a cycle). Each case runs against a store that already holds an image, and compares the store
before and after, files and rows.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rkt.cli.main import main
from rkt.datadir import DataDir
from rkt.errors import FetchError, ImageNotFound, RktError, SignatureError, StoreError
from rkt.insecure import Insecure
from tests.hostile import SYM, aci, archives, entry, write_archives
from tests.integration.test_fetch_http import Env, serve_signed
from tests.integration.test_fetch_servers import (
    Authority,
    LocalServer,
    discovery_page,
    image_path,
)
from tests.trustkit import Signer

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("no_proxies")]

State = tuple[tuple[str, ...], tuple[tuple[object, ...], ...]]


def store_state(data: Path) -> State:
    """The store's files (blobs, trees, temporary files, locks) and its rows."""
    files = tuple(
        sorted(
            str(p.relative_to(data))
            for sub in ("cas/blob", "cas/tree", "cas/tmp", "cas/imagelocks", "tmp", "locks")
            for p in (data / sub).rglob("*")
        )
    )
    db = sqlite3.connect(f"file:{DataDir(data).db}?mode=ro", uri=True)
    try:
        rows = tuple(
            tuple(row)
            for table in ("images", "trees", "remotes")
            for row in db.execute(f"SELECT * FROM {table} ORDER BY 1").fetchall()
        )
    finally:
        db.close()
    return files, rows


@pytest.fixture
def env(tmp_path: Path, test_ca: Authority) -> Env:
    world = Env(tmp_path, test_ca, Signer.generate())
    base = world.image("127.0.0.1/present", files={"present": b"yes"})
    with world.fetcher(Insecure.IMAGE) as s:
        s.fetch(str(base.path))  # the store is not empty: "as it was" means this stays
    return world


# --- the command line, over the corpus of hostile archives ------------------------------------


def test_every_hostile_archive_is_refused_whole(
    env: Env, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = write_archives(env.root / "hostile", archives())
    data = env.data_dir
    before = store_state(data)
    for case, path in cases:
        code = main([f"--dir={data}", "--insecure-options=image", "fetch", str(path)])
        out, err = capsys.readouterr()
        errors = [line for line in err.splitlines() if "warning:" not in line]
        assert code == 254, f"{case.what}: exit {code}, {err}"
        assert len(errors) == 1 and errors[0].startswith("fetch: "), f"{case.what}: {err}"
        assert out == ""
        assert store_state(data) == before, f"{case.what} left something in the store"
    assert main([f"--dir={data}", "image", "verify"]) == 0
    assert len(cases) >= 40


# --- the fetcher, with a server, signatures, discovery and dependencies ----------------------


Fetch = Callable[[], object]


@pytest.fixture
def refused(env: Env) -> Iterator[Callable[[type[RktError], str, Fetch], None]]:
    """``refused(kind, match, fetch)``: the fetch raises ``kind`` with a one-line message
    matching ``match`` and the store is unchanged; a temporary download is kept only when
    the transfer broke off (``kind`` is then ``FetchError`` and ``match`` says "cut")."""

    def check(kind: type[RktError], match: str, fetch: Fetch) -> None:
        before = store_state(env.data_dir)
        with pytest.raises(kind, match=match) as info:
            fetch()
        assert "\n" not in str(info.value)
        after = store_state(env.data_dir)
        assert after == before

    yield check


def _dep(name: str, **extra: object) -> dict[str, object]:
    return {"imageName": name, "labels": [{"name": "version", "value": "1.0.0"}], **extra}


def test_download_failures(
    env: Env, https_server: LocalServer, refused: Callable[..., None]
) -> None:
    env.trust("127.0.0.1")
    image = env.image()
    https_server.serve("/500.aci", b"", status=500)
    https_server.serve("/500.aci.asc", image.path.with_name(image.path.name + ".asc").read_bytes())
    https_server.serve("/missing-image.aci.asc", b"not used")
    cases: list[tuple[type[RktError], str, str, dict[str, object]]] = [
        (SignatureError, "404", https_server.url("/missing.aci"), {}),
        (FetchError, "404", https_server.url("/missing-image.aci"), {}),
        (FetchError, "500", https_server.url("/500.aci"), {}),
        (ImageNotFound, "not in the store", "127.0.0.1/absent", {"pull_policy": "never"}),
        (FetchError, "invalid image name", "Not/A:Name:!", {}),
        (FetchError, "cannot open", str(env.root / "nothing.aci"), {}),
    ]
    for kind, match, arg, options in cases:
        with env.fetcher() as s:
            refused(kind, match, lambda s=s, a=arg, o=options: s.fetch(a, **o))
    url = serve_signed(https_server, "/tls.aci", image)
    with env.fetcher(ca=False) as s:
        refused(FetchError, "certificate|CERTIFICATE|SSL", lambda: s.fetch(url))


def test_signature_and_name_failures(
    env: Env, https_server: LocalServer, refused: Callable[..., None]
) -> None:
    image = env.image()
    asc = image.path.with_name(image.path.name + ".asc").read_bytes()
    url = serve_signed(https_server, "/app.aci", image)
    https_server.serve_image("/unsigned.aci", image)
    other = env.image(files={"other": b"bytes"}, file_name="other")
    https_server.serve_image("/mixed.aci", other)
    https_server.serve("/mixed.aci.asc", asc)  # the signature of other bytes
    https_server.serve_image("/stranger.aci", image)
    https_server.serve("/stranger.aci.asc", Signer.generate().sign(image.path.read_bytes()))
    # Discovery finds an image of another name than the one asked for (rkt#776).
    https_server.discovery_page = discovery_page(https_server)
    impostor = env.image("127.0.0.1/impostor", file_name="impostor")
    serve_signed(https_server, image_path("127.0.0.1/wanted", "1.0.0"), impostor)
    with env.fetcher() as s:
        refused(SignatureError, "no keys|not trusted|trusted", lambda: s.fetch(url))
    env.trust("127.0.0.1")
    for path, match in (
        ("/unsigned.aci", "signature"),
        ("/mixed.aci", "signature|verif"),
        ("/stranger.aci", "signature|key|verif"),
    ):
        with env.fetcher() as s:
            refused(SignatureError, match, lambda s=s, p=path: s.fetch(https_server.url(p)))
    with env.fetcher(port=https_server.port) as s:
        refused(FetchError, "impostor|name", lambda: s.fetch("127.0.0.1/wanted:1.0.0"))


def test_cut_transfer_keeps_only_its_partial_download(env: Env, https_server: LocalServer) -> None:
    """The one thing a failed fetch keeps: the bytes of a transfer that broke off, so that
    the next fetch resumes it (as rkt did; ``rkt gc`` removes abandoned ones)."""
    image = env.image(files={"big": bytes(range(256)) * 4096})
    env.trust("127.0.0.1")
    url = serve_signed(https_server, "/cut.aci", image)
    size = len(image.path.read_bytes())
    https_server.routes["/cut.aci"].cut_at = size // 2
    https_server.routes["/cut.aci"].cuts = 10
    files, rows = store_state(env.data_dir)
    with env.fetcher() as s, pytest.raises(FetchError):
        s.fetch(url)
    after_files, after_rows = store_state(env.data_dir)
    assert after_rows == rows
    left = sorted(set(after_files) - set(files))
    assert left and all(name.startswith("cas/tmp/fetch-") for name in left), left


def test_dependency_failures(
    env: Env, https_server: LocalServer, refused: Callable[..., None]
) -> None:
    env.trust("127.0.0.1")
    https_server.discovery_page = discovery_page(https_server)
    base = env.image("127.0.0.1/base", files={"base": b"base"})
    serve_signed(https_server, image_path("127.0.0.1/base", "1.0.0"), base)
    hostile_dep = env.root / "images" / "hostile-dep.aci"
    hostile_dep.write_bytes(
        aci([entry("rootfs/l", SYM, linkname="/etc"), entry("rootfs/l/passwd", data=b"x")],
            name="127.0.0.1/bad")
    )  # fmt: skip
    env.signer.sign_file(hostile_dep)
    https_server.serve(image_path("127.0.0.1/bad", "1.0.0"), hostile_dep.read_bytes())
    https_server.serve(
        image_path("127.0.0.1/bad", "1.0.0") + ".asc",
        hostile_dep.with_name(hostile_dep.name + ".asc").read_bytes(),
    )

    def app(name: str, deps: list[dict[str, object]], **files: bytes) -> str:
        image = env.image(f"127.0.0.1/{name}", files=files or {"app": b"app"},
                          dependencies=deps, file_name=name)  # fmt: skip
        return serve_signed(https_server, f"/{name}.aci", image)

    missing = app("missing", [_dep("127.0.0.1/absent")])
    wrong_id = app("wrongid", [_dep("127.0.0.1/base", imageID="sha512-" + "0" * 128)])
    hostile = app("hostiledep", [_dep("127.0.0.1/bad")])
    second = app("second", [_dep("127.0.0.1/missing")])  # its dependency's dependency is absent
    serve_signed(
        https_server,
        image_path("127.0.0.1/missing", "1.0.0"),
        env.image("127.0.0.1/missing", dependencies=[_dep("127.0.0.1/absent")], file_name="m2"),
    )
    # An image that names itself as its dependency (found by discovery as itself).
    selfish = env.image("127.0.0.1/selfish", dependencies=[_dep("127.0.0.1/selfish")],
                        file_name="selfish")  # fmt: skip
    serve_signed(https_server, image_path("127.0.0.1/selfish", "1.0.0"), selfish)
    # A fine dependency under an image whose own layer the extractor refuses on top of it.
    top = env.root / "images" / "top.aci"
    top.write_bytes(
        aci([entry("rootfs/base", SYM, linkname="/etc"), entry("rootfs/base/x", data=b"x")],
            name="127.0.0.1/top", dependencies=[_dep("127.0.0.1/base")])
    )  # fmt: skip
    env.signer.sign_file(top)
    https_server.serve("/top.aci", top.read_bytes())
    https_server.serve("/top.aci.asc", top.with_name("top.aci.asc").read_bytes())
    with env.fetcher(port=https_server.port) as s:
        refused(RktError, "absent", lambda: s.fetch(missing))
        refused(FetchError, "requires sha512-0000", lambda: s.fetch(wrong_id))
        refused(StoreError, "refusing", lambda: s.fetch(hostile))
        refused(RktError, "absent", lambda: s.fetch(second))
        refused(StoreError, "dependency cycle", lambda: s.fetch("127.0.0.1/selfish:1.0.0"))
        refused(StoreError, "refusing", lambda: s.fetch(https_server.url("/top.aci")))
        # With the dependencies already in the store, by pull policy "new": nothing added.
        s.fetch(image_path_url(https_server, "127.0.0.1/base"))
        before = store_state(env.data_dir)
        with pytest.raises(StoreError, match="refusing"):
            s.fetch(https_server.url("/top.aci"), pull_policy="new")
        assert store_state(env.data_dir) == before


def image_path_url(server: LocalServer, name: str) -> str:
    return server.url(image_path(name, "1.0.0"))


def test_a_fetch_that_succeeds_commits_the_dependencies_first(
    env: Env, https_server: LocalServer
) -> None:
    env.trust("127.0.0.1")
    https_server.discovery_page = discovery_page(https_server)
    base = env.image("127.0.0.1/base", files={"base": b"base"})
    serve_signed(https_server, image_path("127.0.0.1/base", "1.0.0"), base)
    app = env.image("127.0.0.1/app", dependencies=[_dep("127.0.0.1/base")], file_name="app")
    url = serve_signed(https_server, "/app.aci", app)
    with env.fetcher(port=https_server.port) as s:
        assert s.fetch(url) == app.id
        records = {r.id: r for r in s.store.list()}
        assert records[base.id].import_time <= records[app.id].import_time
        assert s.store.get_remote(url) is not None
        assert s.store.get_remote(https_server.url(image_path("127.0.0.1/base", "1.0.0")))
        assert s.store.verify() == []
    assert (DataDir(env.data_dir).tree(app.id) / "rootfs" / "base").read_bytes() == b"base"
