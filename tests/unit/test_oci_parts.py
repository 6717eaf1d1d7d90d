"""rkt.fetch.oci's parsers and rules, without a network: docker references, auth challenges,
manifests and configs, platform choice, credentials, and the docker2aci conversion."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from rkt.config import ConfigDirs, Credentials, load_docker_auth
from rkt.errors import ConfigError, FetchError
from rkt.fetch.oci.auth import parse_challenges
from rkt.fetch.oci.conversion import image_manifest, user_group
from rkt.fetch.oci.credentials import credentials_for, load_docker_config
from rkt.fetch.oci.digest import check_digest
from rkt.fetch.oci.document import (
    Index,
    Manifest,
    appc_os_arch,
    parse_config,
    parse_manifest,
    select_platform,
)
from rkt.fetch.oci.reference import DOCKER_HUB, parse_docker, parse_local

DIGEST = "sha256:" + "ab" * 32
LAYER = "application/vnd.oci.image.layer.v1.tar"
HELM = "application/vnd.cncf.helm.config.v1+json"


@pytest.mark.parametrize(
    ("text", "host", "repository", "tag", "digest"),
    [
        ("busybox", DOCKER_HUB, "library/busybox", "latest", ""),
        ("busybox:1.36", DOCKER_HUB, "library/busybox", "1.36", ""),
        ("docker.io/busybox", DOCKER_HUB, "library/busybox", "latest", ""),
        ("index.docker.io/library/nginx:1", DOCKER_HUB, "library/nginx", "1", ""),
        ("user/app", DOCKER_HUB, "user/app", "latest", ""),
        ("quay.io/org/app:v2", "quay.io", "org/app", "v2", ""),
        ("localhost/app", "localhost", "app", "latest", ""),
        ("localhost:5000/a/b/c", "localhost:5000", "a/b/c", "latest", ""),
        ("127.0.0.1:5000/app:tag", "127.0.0.1:5000", "app", "tag", ""),
        ("[::1]:5000/app:tag", "[::1]:5000", "app", "tag", ""),
        (f"app@{DIGEST}", DOCKER_HUB, "library/app", "", DIGEST),
        (f"example.com/app:1@{DIGEST}", "example.com", "app", "1", DIGEST),
        ("a.b/my_app__x-y.z", "a.b", "my_app__x-y.z", "latest", ""),
    ],
)
def test_docker_references(text: str, host: str, repository: str, tag: str, digest: str) -> None:
    ref = parse_docker(text)
    assert (ref.host, ref.repository, ref.tag, ref.digest) == (host, repository, tag, digest)


def test_reference_forms() -> None:
    hub = parse_docker("busybox")
    assert hub.full() == "registry-1.docker.io/library/busybox:latest"
    assert hub.url() == parse_docker("registry-1.docker.io/library/busybox:latest").url()
    assert parse_docker("127.0.0.1:5000/App".lower()).image_name() == "127.0.0.1_5000/app"
    assert parse_docker(f"x.io/app@{DIGEST}").reference == DIGEST


@pytest.mark.parametrize(
    "text",
    ["", "Busybox", "app:", "app:-x", "app@sha256:12", "x.io/", "x.io//a", "a..b/c/", "a b"],
)
def test_bad_references(text: str) -> None:
    with pytest.raises(FetchError, match="docker reference"):
        parse_docker(text)


def test_local_references(tmp_path: Path) -> None:
    ref = parse_local("oci:layout:v1", cwd=str(tmp_path))
    assert (ref.transport, ref.path, ref.ref) == ("oci", str(tmp_path / "layout"), "v1")
    assert ref.url() == f"oci:{tmp_path / 'layout'}:v1"
    assert parse_local("docker-archive:/x/s.tar:a/b:1").ref == "a/b:1"
    with pytest.raises(FetchError, match="no path"):
        parse_local("oci-archive:")


def test_digests() -> None:
    assert check_digest(DIGEST, "x") == DIGEST
    for bad in ("sha256:AB" + "ab" * 31, "md5:" + "ab" * 16, "sha256:../../etc", 7):
        with pytest.raises(FetchError):
            check_digest(bad, "x")


# --- auth ------------------------------------------------------------------------------------


def test_challenges() -> None:
    found = parse_challenges(
        'Bearer realm="https://auth.example.com/token",service="registry.example.com",'
        'scope="repository:a/b:pull,push", Basic realm="x\\"y"'
    )
    assert [c.scheme for c in found] == ["bearer", "basic"]
    assert found[0].params == {
        "realm": "https://auth.example.com/token",
        "service": "registry.example.com",
        "scope": "repository:a/b:pull,push",
    }
    assert found[1].params == {"realm": 'x"y'}
    assert parse_challenges("Basic") == [parse_challenges("basic")[0]]
    assert parse_challenges("") == []


# --- documents -------------------------------------------------------------------------------


def _manifest(**over: object) -> bytes:
    doc: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": DIGEST,
                   "size": 10},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+zstd", "digest": DIGEST,
                    "size": 5}],
    }  # fmt: skip
    doc.update(over)
    return json.dumps(doc).encode()


def test_manifest_and_index() -> None:
    manifest = parse_manifest(_manifest(), "", "m")
    assert isinstance(manifest, Manifest) and manifest.layers[0].size == 5
    index = parse_manifest(
        json.dumps({"schemaVersion": 2, "manifests": [{"digest": DIGEST, "size": 3}]}).encode(),
        "application/vnd.oci.image.index.v1+json",
        "i",
    )
    assert isinstance(index, Index)


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (json.dumps({"schemaVersion": 1, "fsLayers": []}).encode(), "schema 1"),
        (_manifest(schemaVersion=3), "schemaVersion 3"),
        (_manifest(layers=[{"mediaType": "x/y", "digest": DIGEST, "size": 1}]), "media type"),
        (
            _manifest(
                layers=[
                    {
                        "mediaType": "application/vnd.oci.image.layer.v1.tar",
                        "digest": "sha256:../x",
                        "size": 1,
                    }
                ]
            ),
            "not a sha256",
        ),
        (
            _manifest(
                config={
                    "mediaType": "application/vnd.cncf.helm.config.v1+json",
                    "digest": DIGEST,
                    "size": 1,
                }
            ),
            "artifact",
        ),
        (b'{"schemaVersion": 2, "x": ' + b"[" * 100000 + b"]" * 100000 + b"}", "nested"),
        (b"\xff\xfe", "not valid JSON"),
    ],
)
def test_bad_manifests(data: bytes, match: str) -> None:
    with pytest.raises(FetchError, match=match):
        parse_manifest(data, "", "m")


def _index(*platforms: tuple[str, str, str]) -> Index:
    manifests = [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json",
         "digest": "sha256:" + f"{n:02x}" * 32, "size": 1,
         "platform": {"os": os_name, "architecture": arch, "variant": variant}}
        for n, (os_name, arch, variant) in enumerate(platforms)
    ]  # fmt: skip
    found = parse_manifest(
        json.dumps({"schemaVersion": 2, "manifests": manifests}).encode(), "", ""
    )
    assert isinstance(found, Index)
    return found


def test_platform_choice() -> None:
    index = _index(("windows", "amd64", ""), ("linux", "arm", "v6"), ("linux", "arm", "v7"),
                   ("linux", "amd64", ""), ("linux", "arm64", "v8"))  # fmt: skip
    assert select_platform(index, "", "x86_64").digest == "sha256:" + "03" * 32
    assert select_platform(index, "", "armv7l").digest == "sha256:" + "02" * 32
    assert select_platform(index, "", "armv6l").digest == "sha256:" + "01" * 32
    assert select_platform(index, "", "aarch64").digest == "sha256:" + "04" * 32
    with pytest.raises(FetchError, match=r"no image for linux/s390x.*linux/amd64"):
        select_platform(index, "", "s390x")


def test_os_and_arch_labels() -> None:
    def config(**doc: str) -> bytes:
        return json.dumps(doc).encode()

    assert appc_os_arch(parse_config(config(os="linux", architecture="arm64"), ""), "") == (
        "linux",
        "aarch64",
    )
    arm7 = parse_config(config(os="linux", architecture="arm", variant="v7"), "")
    assert appc_os_arch(arm7, "") == ("linux", "armv7l")
    with pytest.raises(FetchError, match="windows"):
        appc_os_arch(parse_config(config(os="windows", architecture="amd64"), ""), "")


# --- credentials -----------------------------------------------------------------------------


def test_docker_auth_files(tmp_path: Path) -> None:
    local = tmp_path / "local" / "auth.d"
    local.mkdir(parents=True)
    (local / "a.json").write_text(json.dumps({
        "rktKind": "dockerAuth", "rktVersion": "v1", "registries": ["r.io", "q.io:5000"],
        "credentials": {"user": "u", "password": "p"},
    }))  # fmt: skip
    found = load_docker_auth(ConfigDirs(tmp_path / "system", tmp_path / "local"))
    assert found["q.io:5000"] == Credentials("q.io:5000", "basic", user="u", password="p")
    (local / "b.json").write_text(
        json.dumps(
            {
                "rktKind": "dockerAuth",
                "rktVersion": "v1",
                "registries": ["x"],
                "credentials": {"user": "u"},
            }
        )
    )
    with pytest.raises(ConfigError, match=r"b\.json: credentials\.password"):
        load_docker_auth(ConfigDirs(tmp_path / "system", tmp_path / "local"))


def test_docker_config(tmp_path: Path) -> None:
    path = tmp_path / "config.json"
    auth = base64.b64encode(b"hub:secret").decode()
    path.write_text(json.dumps({"auths": {
        "https://index.docker.io/v1/": {"auth": auth},
        "my.registry:5000": {"username": "me", "password": "pw"},
        "helper.io": {"identitytoken": "opaque"},
    }, "credsStore": "desktop"}))  # fmt: skip
    found = load_docker_config(path)
    assert (found[DOCKER_HUB].user, found[DOCKER_HUB].password) == ("hub", "secret")
    assert found["my.registry:5000"].user == "me"
    assert "helper.io" not in found
    env = {"DOCKER_CONFIG": str(tmp_path)}
    assert credentials_for("my.registry:5000", {}, env) == found["my.registry:5000"]
    first = Credentials("my.registry:5000", "basic", user="rkt", password="x")
    assert credentials_for("my.registry:5000", {"my.registry:5000": first}, env) == first
    path.write_text('{"auths": {"a": {"auth": "!!"}}}')
    with pytest.raises(ConfigError, match="base64"):
        load_docker_config(path)


# --- conversion ------------------------------------------------------------------------------

PASSWD = b"root:x:0:0::/root:/bin/sh\napp:x:1000:1500::/home/app:/bin/sh\n"


def _read(path: str) -> bytes | None:
    return PASSWD if path == "/etc/passwd" else None


@pytest.mark.parametrize(
    ("user", "expected"),
    [
        ("", ("0", "0")),
        ("app", ("app", "1500")),  # the passwd entry's group, as Docker (runc) runs it
        ("1000", ("1000", "1500")),
        ("nobody", ("nobody", "0")),  # not in passwd: gid 0, as Docker
        ("app:staff", ("app", "staff")),
        ("7:8", ("7", "8")),
    ],
)
def test_user_and_group(user: str, expected: tuple[str, str]) -> None:
    assert user_group(user, _read) == expected


def test_conversion_is_docker2aci_s() -> None:
    config = parse_config(json.dumps({
        "os": "linux", "architecture": "amd64", "created": "2020-01-02T03:04:05.123456789Z",
        "author": "someone",
        "config": {
            "Entrypoint": ["/entry"], "Cmd": ["a", "b"], "Env": ["A=1", "B", "bad name=2", "A=2"],
            "WorkingDir": "/work/", "ExposedPorts": {"80/tcp": {}, "53/udp": {}, "7000-7002": {},
                                                    "bogus": {}},
            "Volumes": {"/data": {}, "/data/": {}, "/var/lib/x": {}},
        },
    }).encode(), "c")  # fmt: skip
    warnings: list[str] = []
    raw = image_manifest(
        name="example.com/app",
        version="1.0",
        os_arch=("linux", "amd64"),
        config=config,
        annotations=[("appc.io/docker/tag", "1.0"), ("appc.io/docker/registryurl", "")],
        read=_read,
        warn=warnings.append,
    )
    doc = json.loads(raw)
    app = doc["app"]
    assert app["exec"] == ["/entry", "a", "b"]
    assert app["environment"] == [{"name": "A", "value": "2"}]
    assert app["workingDirectory"] == "/work"
    assert [(p["name"], p["port"], p["count"], p["protocol"]) for p in app["ports"]] == [
        ("53-udp", 53, 1, "udp"), ("7000-7002", 7000, 3, "tcp"), ("80-tcp", 80, 1, "tcp")
    ]  # fmt: skip
    assert [(m["name"], m["path"]) for m in app["mountPoints"]] == [
        ("volume-data", "/data"), ("volume-data-1", "/data/"), ("volume-var-lib-x", "/var/lib/x")
    ]  # fmt: skip
    notes = {a["name"]: a["value"] for a in doc["annotations"]}
    assert notes["created"] == "2020-01-02T03:04:05.123456789Z"
    assert "appc.io/docker/registryurl" not in notes  # empty values are left out
    assert json.loads(notes["appc.io/docker/cmd"]) == ["a", "b"]
    assert len(warnings) == 2  # "bad name" and "bogus"
    # The same input, the same bytes: nothing of the moment goes in.
    again = image_manifest(name="example.com/app", version="1.0", os_arch=("linux", "amd64"),
                           config=config, annotations=[("appc.io/docker/tag", "1.0")],
                           read=_read, warn=warnings.append)  # fmt: skip
    assert again == raw


def test_docker_manifest_list_is_an_index() -> None:
    data = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.list.v2+json",
            "manifests": [
                {
                    "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                    "digest": DIGEST,
                    "size": 7,
                    "platform": {"os": "linux", "architecture": "amd64"},
                }
            ],
        }
    ).encode()
    index = parse_manifest(data, "", "list")
    assert isinstance(index, Index)
    assert select_platform(index, "", "x86_64").digest == DIGEST


class _TokenTransport:
    """Answers token requests with a new token each time, valid for 100 s."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, dict[str, str]]] = []

    def request(self, url: str, headers: object = None, *, method: str = "GET",
                origin_headers: dict[str, str] | None = None) -> object:  # fmt: skip
        self.calls.append((url, dict(origin_headers or {})))
        body = json.dumps({"token": f"t{len(self.calls)}", "expires_in": 100}).encode()

        class Answer:
            status, url = 200, ""

            def header(self, name: str) -> str | None:
                return None

            def chunks(self, size: int) -> list[bytes]:
                return [body]

            def close(self) -> None:
                pass

        return Answer()


class _Challenge:
    status, url = 401, ""

    def header(self, name: str) -> str | None:
        return 'Bearer realm="https://auth.example/token",service="reg"' if name else None

    def close(self) -> None:
        pass


def test_bearer_tokens_are_renewed_when_they_expire() -> None:
    from rkt.fetch.oci.auth import Authenticator

    now = [1000.0]
    transport = _TokenTransport()
    creds = Credentials("reg.example", "basic", user="u", password="p")
    auth = Authenticator(
        "reg.example",
        "app",
        transport,
        creds,
        clock=lambda: now[0],  # type: ignore[arg-type]
    )
    first = auth.headers()
    assert first["Authorization"].startswith("Basic ")  # sent first, to the registry only
    assert auth.answer(_Challenge(), first)  # type: ignore[arg-type]
    url, sent = transport.calls[0]
    assert url == "https://auth.example/token?service=reg&scope=repository%3Aapp%3Apull"
    assert sent["Authorization"].startswith("Basic ")  # the credentials go to the realm
    assert auth.headers() == {"Authorization": "Bearer t1"}
    now[0] += 90
    assert auth.headers() == {"Authorization": "Bearer t1"}
    now[0] += 10  # within the margin of expiry: renewed before it is sent
    assert auth.headers() == {"Authorization": "Bearer t2"}
    with pytest.raises(FetchError, match="refused its own token"):
        auth.answer(_Challenge(), {"Authorization": "Bearer t2"})  # type: ignore[arg-type]
