"""rkt.stage0.pod_manifest (a user's ``--pod-manifest``) and its CLI checks, without root: the
schema and cross-field validation, image resolution against a real store in a temp dir, port
forwards, and the flags refused with ``--pod-manifest`` (rkt 1.30's "conflicting flags")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appc.aci import build
from appc.schema.document import MAX_MANIFEST_SIZE
from rkt.cli.main import main
from rkt.errors import ConfigError
from rkt.stage0 import pod_manifest
from rkt.store import Store
from tests.unit.test_store_support import manifest as image_manifest
from tests.unit.test_store_support import open_store


def document(apps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": apps, **extra}


def encode(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc).encode()


ID = "sha512-" + "ab" * 64
MOUNTED = {"name": "a", "image": {"id": ID}, "mounts": [{"volume": "v", "path": "/v"}]}


def parse_error(doc: dict[str, Any] | bytes) -> str:
    data = doc if isinstance(doc, bytes) else encode(doc)
    with pytest.raises(ConfigError) as info:
        pod_manifest.parse(data, "/etc/pod.json")
    return str(info.value)


def test_valid_manifest_is_parsed() -> None:
    doc = document(
        [{"name": "a", "image": {"id": ID}, "mounts": [{"volume": "v", "path": "/v"}]}],
        volumes=[{"name": "v", "kind": "empty"}],
    )
    parsed = pod_manifest.parse(encode(doc), "pod.json")
    assert [a.name for a in parsed.apps] == ["a"]
    assert parsed.apps[0].mounts[0].volume == "v"


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b"{not json", ["/etc/pod.json", "not valid JSON"]),
        (encode({**document([]), "acKind": "ImageManifest"}), ["acKind", "PodManifest"]),
        (encode({"acKind": "PodManifest", "apps": []}), ["acVersion"]),
        (encode(document([])), ["apps", "at least one app"]),
        (
            encode(document([{"name": "a", "image": {"id": ID}}] * 2)),
            ["apps[1]", 'duplicate app name "a"'],
        ),
        (encode(document([{"name": "a", "image": {"id": "md5-00"}}])), ["apps[0].image.id"]),
        (encode(document([MOUNTED])), ["apps[0].mounts[0].volume", '"v"', "defined: none"]),
    ],
)
def test_invalid_manifests_name_file_field_and_expectation(
    data: bytes, expected: list[str]
) -> None:
    message = parse_error(data)
    assert message.startswith("invalid pod manifest /etc/pod.json: ")
    for word in expected:
        assert word in message


def test_mount_with_its_own_app_volume_needs_no_pod_volume() -> None:
    mount = {"volume": "v", "path": "/v", "appVolume": {"name": "v", "kind": "empty"}}
    doc = document([{"name": "a", "image": {"id": ID}, "mounts": [mount]}])
    assert pod_manifest.parse(encode(doc), "p").apps[0].mounts[0].app_volume is not None


def test_read_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read pod manifest .*nope: No such file"):
        pod_manifest.read(str(tmp_path / "nope"))
    big = tmp_path / "big"
    big.write_bytes(b" " * (MAX_MANIFEST_SIZE + 1))
    with pytest.raises(ConfigError, match=r"big: larger than"):
        pod_manifest.read(str(big))


# --- resolution against a real store ----------------------------------------------------------


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with open_store(tmp_path) as opened:
        yield opened


def add_image(store: Store, tmp_path: Path, name: str, app: dict[str, Any] | None) -> str:
    layout = tmp_path / f"layout-{name}"
    (layout / "rootfs").mkdir(parents=True)
    extra: dict[str, Any] = {"app": app} if app is not None else {}
    (layout / "manifest").write_bytes(image_manifest(f"example.com/{name}", **extra))
    aci = tmp_path / f"{name}.aci"
    build(layout, aci)
    return store.import_aci(aci).id


APP = {"exec": ["/bin/true"], "user": "0", "group": "0", "ports": [{"name": "http",
       "port": 80, "protocol": "tcp"}]}  # fmt: skip


def test_resolve_completes_short_ids_and_keeps_the_apps(store: Store, tmp_path: Path) -> None:
    image_id = add_image(store, tmp_path, "web", APP)
    doc = document([{"name": "web", "image": {"id": image_id[:20], "name": "example.com/web"}}])
    pod = pod_manifest.resolve(store, pod_manifest.parse(encode(doc), "p"), "p")
    assert pod.manifest.apps[0].image.id == image_id
    assert pod.manifest.apps[0].app is None  # stage1 runs the image's app
    assert [(i.app, i.image_id, i.image.name) for i in pod.images] == [
        ("web", image_id, "example.com/web")
    ]


@pytest.mark.parametrize(
    ("app", "runtime", "expected"),
    [
        (APP, {"image": {"id": "sha512-" + "00" * 64}}, ["apps[0].image.id", "rkt fetch"]),
        (APP, {"image": {"id": "IMAGE", "name": "example.com/other"}}, ["apps[0].image.name",
                                                                       "example.com/web"]),
        (None, {"image": {"id": "IMAGE"}}, ["apps[0].app", "no app section"]),
        (None, {"image": {"id": "IMAGE"}, "app": {"user": "0", "group": "0"}}, ["exec"]),
    ],
)  # fmt: skip
def test_resolve_errors(
    store: Store,
    tmp_path: Path,
    app: dict[str, Any] | None,
    runtime: dict[str, Any],
    expected: list[str],
) -> None:
    image_id = add_image(store, tmp_path, "web", app)
    runtime = json.loads(json.dumps(runtime).replace("IMAGE", image_id))
    parsed = pod_manifest.parse(encode(document([{"name": "web", **runtime}])), "p.json")
    with pytest.raises(ConfigError) as info:
        pod_manifest.resolve(store, parsed, "p.json")
    for word in ("p.json", *expected):
        assert word in str(info.value)


def test_ports_are_resolved_against_the_apps(store: Store, tmp_path: Path) -> None:
    image_id = add_image(store, tmp_path, "web", APP)
    app = {"name": "web", "image": {"id": image_id}}
    good = document([app], ports=[{"name": "http", "hostPort": 8080}])
    pod = pod_manifest.resolve(store, pod_manifest.parse(encode(good), "p"), "p")
    resolved = pod_manifest.resolve_ports(pod, "default")
    assert resolved.manifest.ports[0].pod_port is not None
    assert resolved.manifest.ports[0].pod_port.port == 80
    with pytest.raises(ConfigError, match=r"ports: ports cannot be forwarded with --net=host"):
        pod_manifest.resolve_ports(pod, "host")
    bad = document([app], ports=[{"name": "ssh", "hostPort": 2222}])
    pod = pod_manifest.resolve(store, pod_manifest.parse(encode(bad), "p"), "p")
    with pytest.raises(ConfigError, match=r'ports\[0\].name: no app .* "ssh" .*http'):
        pod_manifest.resolve_ports(pod, "default")


def test_interactive_needs_one_app(store: Store, tmp_path: Path) -> None:
    from rkt.stage0.options import RunOptions, stage1_options

    image_id = add_image(store, tmp_path, "web", APP)
    apps = [{"name": n, "image": {"id": image_id}} for n in ("one", "two")]
    pod = pod_manifest.resolve(store, pod_manifest.parse(encode(document(apps)), "p"), "p")
    pods = tmp_path / "pods"
    with pytest.raises(ConfigError, match="--interactive needs a pod of one app: p has 2"):
        options = stage1_options(RunOptions(interactive=True), "none")
        pod_manifest.prepare(store, pods, pod, options=options)
    assert not pods.exists()  # refused before any pod directory was made


# --- the CLI's checks (they run before any store or pod is touched) ---------------------------


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["example.com/app"], "image arguments (example.com/app)"),
        (["--volume=v,kind=empty"], "--volume"),
        (["--mount=volume=v,target=/v"], "--mount"),
        (["--inherit-env"], "--inherit-env"),
        (["--set-env-file=/dev/null"], "--set-env-file"),
        (["--store-only"], "--store-only"),
        (["--pull-policy=update"], "--pull-policy=update"),
    ],
)
@pytest.mark.parametrize("verb", ["prepare", "run"])
def test_cli_refuses_conflicting_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], verb: str, words: list[str], expected: str
) -> None:
    code = main([verb, f"--dir={tmp_path}", "--pod-manifest=/x/pod.json", *words])
    err = capsys.readouterr().err
    assert code == 254
    assert expected in err and "--pod-manifest=/x/pod.json" in err
    assert not (tmp_path / "pods").exists()


def test_cli_needs_images_or_a_manifest(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["prepare", f"--dir={tmp_path}"]) == 254
    assert "pod manifest" in capsys.readouterr().err
