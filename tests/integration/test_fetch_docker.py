"""``rkt fetch``/``run`` of Docker and OCI images end to end: Debian's docker-registry on
127.0.0.1 (the test CA's certificate; htpasswd Basic auth, or behind the tests' token server),
images built as OCI layouts from busybox-static and pushed with skopeo, and the local
``oci:``, ``oci-archive:`` and ``docker-archive:`` transports.

The images: ``test/app:v1`` has three layers (busybox gzip; a zstd layer; a plain one with a
whiteout and an opaque directory) and a config with Entrypoint, Cmd, Env, User, WorkingDir,
ExposedPorts and Volumes; ``test/app:multi`` is an index of this machine's image and an arm64
one; ``test/app:v2s2`` the same image as Docker schema 2 (gzip only, as that format requires).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tarfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests import ocikit
from tests.integration import podkit
from tests.integration.registrykit import (
    PASSWORD,
    USER,
    RegistryPair,
    docker_auth,
    start_registries,
)
from tests.integration.test_run_ports import Env, _ask, _free_port, env

__all__ = ["env"]  # a fixture of test_run_ports, used by name

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
]

SCRIPT = "cat /srv/a; test -e /srv/b || echo no-b; ls /etc; id; pwd; echo FOO=$FOO; echo ARGS=$0"
APP_CONFIG = {
    "Entrypoint": ["/bin/sh", "-c", SCRIPT],
    "Cmd": ["from-cmd"],
    "Env": ["FOO=bar", "PATH=/usr/bin:/bin"],
    "User": "app",
    "WorkingDir": "/home/app",
    "ExposedPorts": {"8080/tcp": {}},
    "Volumes": {"/data": {}},
}


@dataclass
class Images:
    pair: RegistryPair
    layout: Path
    v1: str  # docker:// references on the Basic-auth registry
    multi: str
    v2s2: str
    public: str  # on the token registry
    private: str
    digest: str  # the v1 manifest's digest


def _layout(root: Path) -> Path:
    layout = ocikit.Layout(root)
    base = layout.layer(ocikit.busybox_entries())
    second = layout.layer(
        [ocikit.directory("srv"), ocikit.file("srv/a", "from layer two\n"),
         ocikit.file("srv/b", "gone later\n"), ocikit.directory("etc"),
         ocikit.file("etc/motd", "hidden by the opaque dir\n")],
        "zstd",
    )  # fmt: skip
    third = layout.layer(
        [ocikit.whiteout("srv/b"), ocikit.directory("etc"), ocikit.opaque("etc"),
         ocikit.file("etc/passwd", ocikit.PASSWD), ocikit.file("etc/group", ocikit.GROUP)],
        "none",
    )  # fmt: skip
    arch = ocikit.host_arch()
    app = layout.image([base, second, third], APP_CONFIG, arch=arch)
    layout.tag(app, "v1")
    gzip_only = layout.image([base], {"Cmd": ["/bin/echo", "schema", "two"]}, arch=arch)
    layout.tag(gzip_only, "plain")
    other = layout.image(
        [base], {"Cmd": ["/bin/echo", "wrong", "arch"]}, arch="arm64", variant="v8"
    )
    mine = layout.image([base], {"Cmd": ["/bin/echo", "this", "arch"]}, arch=arch)
    layout.tag(layout.index([other, mine]), "multi")
    server = layout.image([base], {
        "Cmd": ["/bin/sh", "-c", "echo READY; exec nc -ll -p 8080 -e echo hi"],
        "ExposedPorts": {"8080/tcp": {}},
    }, arch=arch)  # fmt: skip
    layout.tag(server, "server")
    return root


@pytest.fixture(scope="module")
def images(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Images]:
    if shutil.which("skopeo") is None:
        pytest.skip("needs skopeo (scripts/setup.sh installs it)")
    directory = tmp_path_factory.mktemp("registry")
    layout = _layout(directory / "layout")
    for pair in start_registries(directory):
        basic, token = pair.basic, pair.token
        v1 = basic.push(layout, "v1", "test/app:v1")
        multi = basic.push(layout, "multi", "test/app:multi", "--all")
        v2s2 = basic.push(layout, "plain", "test/app:v2s2", "--format", "v2s2")
        basic.push(layout, "server", "test/server:1")
        public = token.push(layout, "v1", "public/app:v1")
        private = token.push(layout, "v1", "private/app:v1")
        digest = subprocess.run(
            ["skopeo", "inspect", "--format", "{{.Digest}}", "--cert-dir", str(basic.certs),
             "--creds", f"{USER}:{PASSWORD}", v1],
            check=True, capture_output=True, text=True,
        ).stdout.strip()  # fmt: skip
        yield Images(pair, layout, v1, multi, v2s2, public, private, digest)


@dataclass
class Rkt:
    tmp: Path
    env: dict[str, str]

    def __call__(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return podkit.rkt(
            self.tmp / "data", f"--local-config={self.tmp / 'local'}", *args,
            env=self.env, timeout=timeout,
        )  # fmt: skip


@pytest.fixture
def rkt(tmp_path: Path, images: Images) -> Iterator[Rkt]:
    env = {**os.environ, "SSL_CERT_FILE": str(images.pair.authority.ca_cert)}
    env.pop("DOCKER_CONFIG", None)
    env["HOME"] = str(tmp_path / "home")
    docker_auth(tmp_path / "local", images.pair.basic.host)
    yield Rkt(tmp_path, env)
    podkit.cleanup(tmp_path / "data", tmp_path)


def _fetch(rkt: Rkt, ref: str, *flags: str) -> str:
    done = rkt("--insecure-options=image", "fetch", "--full", *flags, ref)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def _lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line]


def test_run_of_a_registry_image_does_what_its_config_says(rkt: Rkt, images: Images) -> None:
    done = rkt("--insecure-options=image", "run", "--net=none", images.v1)
    assert done.returncode == 0, done.stderr
    assert _lines(done.stdout) == [
        "from layer two",  # the zstd layer
        "no-b",  # whited out by the third layer
        "group",  # the opaque etc/ of the third layer: no motd
        "hosts",  # (stage1's)
        "passwd",
        "uid=1000(app) gid=1500(staff)",  # User "app": its primary group from /etc/passwd
        "/home/app",
        "FOO=bar",
        "ARGS=from-cmd",  # Entrypoint + Cmd
    ]
    listed = rkt("image", "list", "--fields=name", "--no-legend").stdout
    assert _lines(listed) == [f"{images.pair.basic.host.replace(':', '_')}/test/app:v1"]


def test_manifest_as_docker2aci_converts(rkt: Rkt, images: Images) -> None:
    image_id = _fetch(rkt, images.v1)
    manifest = json.loads(rkt("image", "cat-manifest", image_id).stdout)
    host = images.pair.basic.host
    assert manifest["name"] == f"{host.replace(':', '_')}/test/app"
    labels = {label["name"]: label["value"] for label in manifest["labels"]}
    assert labels == {"version": "v1", "os": "linux", "arch": podkit_arch()}
    app = manifest["app"]
    assert app["exec"] == ["/bin/sh", "-c", SCRIPT, "from-cmd"]
    assert (app["user"], app["group"], app["workingDirectory"]) == ("app", "1500", "/home/app")
    assert app["environment"] == [
        {"name": "FOO", "value": "bar"}, {"name": "PATH", "value": "/usr/bin:/bin"}
    ]  # fmt: skip
    assert app["mountPoints"] == [{"name": "volume-data", "path": "/data"}]
    assert [(p["name"], p["port"], p["protocol"]) for p in app["ports"]] == [
        ("8080-tcp", 8080, "tcp")
    ]
    notes = {a["name"]: a["value"] for a in manifest["annotations"]}
    assert notes["appc.io/docker/registryurl"] == host
    assert notes["appc.io/docker/repository"] == "test/app"
    assert notes["appc.io/docker/tag"] == "v1"
    assert notes["appc.io/docker/manifesthash"] == images.digest
    assert notes["appc.io/docker/imageid"].startswith("sha256:")
    assert json.loads(notes["appc.io/docker/entrypoint"]) == APP_CONFIG["Entrypoint"]
    assert json.loads(notes["appc.io/docker/cmd"]) == ["from-cmd"]


def podkit_arch() -> str:
    from appc.schema.labels import host_os_arch

    return host_os_arch()[1]


def test_same_image_same_id_in_another_store(rkt: Rkt, images: Images, tmp_path: Path) -> None:
    first = _fetch(rkt, images.v1)
    other = Rkt(tmp_path / "other", rkt.env)
    docker_auth(other.tmp / "local", images.pair.basic.host)
    assert _fetch(other, images.v1) == first


def test_multi_arch_index_gives_this_machines_image(rkt: Rkt, images: Images) -> None:
    done = rkt("--insecure-options=image", "run", "--net=none", images.multi)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "this arch"


def test_docker_schema_2_manifest(rkt: Rkt, images: Images) -> None:
    done = rkt("--insecure-options=image", "run", "--net=none", images.v2s2)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "schema two"


def test_without_insecure_image_one_clear_message(rkt: Rkt, images: Images) -> None:
    done = rkt("fetch", images.v1)
    assert done.returncode == 254
    assert _lines(done.stderr) == [
        f"fetch: {images.v1}: Docker and OCI images carry no signature that rkt can verify "
        "(use --insecure-options=image to fetch it anyway, or name it by digest "
        "(docker://NAME@sha256:...))"
    ]
    assert not (rkt.tmp / "data" / "cas" / "blob").exists() or not any(
        (rkt.tmp / "data" / "cas" / "blob").rglob("sha512-*")
    )


def test_digest_reference_is_verified_by_content(rkt: Rkt, images: Images) -> None:
    ref = images.v1.rpartition(":")[0] + "@" + images.digest
    done = rkt("fetch", "--full", ref)
    assert done.returncode == 0, done.stderr
    assert "verified by its content digest" in done.stderr
    wrong = ref[:-4] + ("0000" if not ref.endswith("0000") else "1111")
    failed = rkt("fetch", wrong)
    assert failed.returncode == 254 and "not found" in failed.stderr, failed.stderr


def test_pull_policies(rkt: Rkt, images: Images) -> None:
    first = _fetch(rkt, images.v1)
    new = rkt("--insecure-options=image", "--debug", "fetch", "--full", "--pull-policy=new",
              images.v1)  # fmt: skip
    assert new.stdout.strip() == first
    assert "using image from local store" in new.stderr
    update = rkt("--insecure-options=image", "--debug", "fetch", "--full", images.v1)
    assert update.stdout.strip() == first
    assert "is unchanged" in update.stderr
    # The tag moves: update fetches the new image.
    images.pair.basic.push(images.layout, "plain", "test/app:moving")
    moving = images.v1.rpartition(":")[0] + ":moving"
    old = _fetch(rkt, moving)
    images.pair.basic.push(images.layout, "server", "test/app:moving")
    new_id = _fetch(rkt, moving)
    assert new_id != old
    never = rkt("fetch", "--pull-policy=never", images.v1.rpartition(":")[0] + ":absent")
    assert never.returncode == 254 and "not in the store" in never.stderr


def test_token_registry_anonymous_and_with_credentials(rkt: Rkt, images: Images) -> None:
    tokens = images.pair.tokens
    tokens.requests.clear()
    _fetch(rkt, images.public)
    assert tokens.requests and all(r["authorization"] == "" for r in tokens.requests)
    assert tokens.requests[0]["query"]["scope"] == ["repository:public/app:pull"]
    denied = rkt("--insecure-options=image", "fetch", images.private)
    assert denied.returncode == 254
    assert "authentication failed" in denied.stderr or "denied" in denied.stderr, denied.stderr
    tokens.requests.clear()
    docker_auth(rkt.tmp / "local", images.pair.token.host)
    _fetch(rkt, images.private)
    assert tokens.requests and all(r["authorization"].startswith("Basic ") for r in tokens.requests)


def test_docker_config_credentials(rkt: Rkt, images: Images, tmp_path: Path) -> None:
    (rkt.tmp / "local" / "auth.d" / "registry.json").unlink()
    refused = rkt("--insecure-options=image", "fetch", images.v1)
    assert refused.returncode == 254 and "user name and password" in refused.stderr
    config = tmp_path / "docker"
    config.mkdir()
    import base64

    auth = base64.b64encode(b"alice:wonderland").decode()
    (config / "config.json").write_text(
        json.dumps({"auths": {f"https://{images.pair.basic.host}": {"auth": auth}}})
    )
    rkt.env["DOCKER_CONFIG"] = str(config)
    _fetch(rkt, images.v1)


def test_volume_mount_point_takes_a_volume(rkt: Rkt, images: Images, tmp_path: Path) -> None:
    source = tmp_path / "volume"
    source.mkdir()
    (source / "note").write_text("from the host\n")
    done = rkt(
        "--insecure-options=image", "run", "--net=none",
        f"--volume=volume-data,kind=host,source={source}", images.v1,
        "--exec=/bin/cat", "--", "/data/note",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "from the host"


def test_image_verbs_work_on_converted_images(rkt: Rkt, images: Images, tmp_path: Path) -> None:
    from appc.aci.reader import validate_archive

    image_id = _fetch(rkt, images.v1)
    out = tmp_path / "exported.aci"
    assert rkt("image", "export", image_id, str(out)).returncode == 0
    assert validate_archive(out).image_id == image_id
    assert rkt("image", "extract", "--rootfs-only", image_id, str(tmp_path / "x")).returncode == 0
    assert (tmp_path / "x" / "srv" / "a").read_text() == "from layer two\n"
    assert not (tmp_path / "x" / "srv" / "b").exists()
    assert rkt("image", "render", image_id, str(tmp_path / "r")).returncode == 0
    assert sorted(os.listdir(tmp_path / "r" / "rootfs" / "etc")) == ["group", "passwd"]
    assert rkt("image", "verify", image_id).returncode == 0
    assert rkt("image", "rm", image_id).returncode == 0
    assert rkt("image", "list", "--no-legend").stdout.strip() == ""
    assert rkt("image", "gc", "--grace-period=0s").returncode == 0


def test_port_forwards_an_exposed_port(env: Env, images: Images) -> None:
    docker_auth(env.etc, images.pair.basic.host)
    ref = f"docker://{images.pair.basic.host}/test/server:1"
    done = podkit.rkt(
        env.data, f"--local-config={env.etc}", "--insecure-options=image", "fetch", "--full", ref,
        env={**os.environ, "SSL_CERT_FILE": str(images.pair.authority.ca_cert)},
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    env.aci = Path(done.stdout.strip())  # run by image ID
    port = _free_port()
    env.ports.append(port)
    env.start("docker", "ptest", f"--port=8080-tcp:127.0.0.1:{port}")
    assert _ask("127.0.0.1", port).strip() == b"hi"
    env.gc()


# --- local transports ----------------------------------------------------------------------


def _archive(layout: Path, out: Path) -> Path:
    with tarfile.open(out, "w") as tar:
        for name in sorted(os.listdir(layout)):
            tar.add(layout / name, arcname=name)
    return out


def test_oci_layout_archive_and_docker_archive(rkt: Rkt, images: Images, tmp_path: Path) -> None:
    layout_id = _fetch(rkt, f"oci:{images.layout}:v1")
    archive = _archive(images.layout, tmp_path / "layout.tar")
    archive_id = _fetch(rkt, f"oci-archive:{archive}:v1")
    saved = tmp_path / "saved.tar"
    subprocess.run(
        [
            "skopeo",
            "copy",
            "--quiet",
            f"oci:{images.layout}:plain",
            f"docker-archive:{saved}:example.com/saved:2",
        ],
        check=True,
        capture_output=True,
    )  # fmt: skip  (a docker archive cannot hold zstd layers)
    saved_id = _fetch(rkt, f"docker-archive:{saved}")
    names = _lines(rkt("image", "list", "--fields=name", "--no-legend").stdout)
    assert layout_id == archive_id  # the same layout, the same name: the same ACI
    assert sorted(names) == ["example.com/saved:2", "localhost/layout:v1"]
    for image_id, first_line in ((layout_id, "from layer two"), (saved_id, "schema two")):
        done = rkt("--insecure-options=image", "run", "--net=none", image_id)
        assert done.returncode == 0, done.stderr
        assert _lines(done.stdout)[0] == first_line
    # The store remembers local references too.
    again = rkt("--debug", "fetch", "--pull-policy=new", f"oci:{images.layout}:v1")
    assert again.returncode == 0 and "using image from local store" in again.stderr


def test_prepare_and_run_prepared(rkt: Rkt, images: Images) -> None:
    prepared = rkt("--insecure-options=image", "prepare", images.multi)
    assert prepared.returncode == 0, prepared.stderr
    uuid = prepared.stdout.strip()
    done = rkt("run-prepared", "--net=none", uuid)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "this arch"
