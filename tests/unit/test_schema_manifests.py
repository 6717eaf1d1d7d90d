"""Image and pod manifests: parsing, validation with JSON paths, and round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest

from appc.errors import ValidationError
from appc.schema.app import mount_point_from_string, port_from_string
from appc.schema.image import ImageManifest
from appc.schema.kind import parse_manifest
from appc.schema.pod import PodManifest
from appc.schema.volume import Volume

IMAGE: dict[str, Any] = {
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/app",
    "labels": [{"name": "version", "value": "1.0"}, {"name": "os", "value": "linux"}],
    "app": {
        "exec": ["/bin/app", "--serve"],
        "eventHandlers": [{"name": "pre-start", "exec": ["/bin/setup"]}],
        "user": "app",
        "group": "1000",
        "supplementaryGIDs": [10, 20],
        "workingDirectory": "/srv",
        "environment": [{"name": "PATH", "value": "/bin"}],
        "mountPoints": [{"name": "data", "path": "/data", "readOnly": True}],
        "ports": [{"name": "http", "protocol": "tcp", "port": 8080, "count": 2}],
        "isolators": [{"name": "resource/memory", "value": {"limit": "1G"}}],
        "userAnnotations": {"b": "2", "a": "1"},
        "userLabels": {"tier": "web"},
    },
    "annotations": [{"name": "created", "value": "2020-01-01T00:00:00Z"}],
    "dependencies": [
        {"imageName": "example.com/base", "imageID": "sha512-abcd", "labels": [], "size": 12}
    ],
    "pathWhitelist": ["/bin/app"],
}

POD: dict[str, Any] = {
    "acVersion": "0.8.11",
    "acKind": "PodManifest",
    "apps": [
        {
            "name": "web",
            "image": {"name": "example.com/app", "id": "sha512-" + "0" * 128, "labels": []},
            "app": IMAGE["app"],
            "readOnlyRootFS": True,
            "mounts": [
                {"volume": "data", "path": "/data"},
                {
                    "volume": "scratch",
                    "path": "/tmp",
                    "appVolume": {"name": "scratch", "kind": "empty"},
                },
            ],
            "annotations": [{"name": "coreos.com/rkt/stage1/mutable", "value": "false"}],
        }
    ],
    "volumes": [{"name": "data", "kind": "host", "source": "/srv/data", "readOnly": True}],
    "isolators": [{"name": "os/linux/cpu-shares", "value": 100}],
    "annotations": [],
    "ports": [{"name": "http", "hostPort": 80, "hostIP": "127.0.0.1"}],
    "userLabels": {"x": "y"},
}


def test_image_manifest_round_trip() -> None:
    manifest = ImageManifest.from_json(json.dumps(IMAGE).encode())
    assert manifest.name == "example.com/app"
    assert manifest.label("version") == "1.0"
    assert manifest.app is not None and manifest.app.user == "app"
    again = ImageManifest.from_json(manifest.to_json())
    assert again == manifest
    assert ImageManifest.from_json(manifest.to_json(pretty=True)) == manifest
    out = json.loads(manifest.to_json())
    # The reference's order, user maps sorted as Go sorts map keys, count kept.
    assert list(out) == [
        "acKind",
        "acVersion",
        "name",
        "labels",
        "app",
        "annotations",
        "dependencies",
        "pathWhitelist",
    ]
    assert list(out["app"]["userAnnotations"]) == ["a", "b"]
    assert out["app"]["ports"][0] == {
        "name": "http",
        "protocol": "tcp",
        "port": 8080,
        "count": 2,
        "socketActivated": False,
    }


def test_minimal_manifest_serializes_like_the_reference() -> None:
    doc = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "a",
        "app": {"user": "0", "group": "0", "ports": [{"name": "p", "protocol": "tcp", "port": 1}]},
    }
    assert ImageManifest.from_json(json.dumps(doc)).to_json() == (
        b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"a","app":{"exec":null,'
        b'"user":"0","group":"0","ports":[{"name":"p","protocol":"tcp","port":1,"count":1,'
        b'"socketActivated":false}]}}'
    )


def test_go_string_escaping() -> None:
    doc = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": "a",
        "annotations": [{"name": "authors", "value": "<a&b> \u2028 \b\\b é"}],
    }
    out = ImageManifest.from_json(json.dumps(doc)).to_json()
    assert b'"<a&b>' not in out
    assert b"\\u003ca\\u0026b\\u003e \\u2028 \\u0008\\\\b \xc3\xa9" in out


def test_pod_manifest_round_trip() -> None:
    pod = PodManifest.from_json(json.dumps(POD).encode())
    assert pod.app("web") is not None
    assert pod.apps[0].mounts[1].app_volume == Volume("scratch", "empty", mode="0755", uid=0, gid=0)
    assert PodManifest.from_json(pod.to_json()) == pod
    assert isinstance(parse_manifest(pod.to_json()), PodManifest)
    assert isinstance(parse_manifest(json.dumps(IMAGE).encode()), ImageManifest)


def _broken(base: dict[str, Any], edit: Any) -> bytes:
    doc = json.loads(json.dumps(base))
    edit(doc)
    return json.dumps(doc).encode()


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("acKind"), "acKind"),
        (lambda d: d.update(acKind="PodManifest"), "acKind"),
        (lambda d: d.update(acVersion="1.0"), "acVersion"),
        (lambda d: d.update(name="Example"), "name"),
        (lambda d: d["labels"].append({"name": "os", "value": "linux"}), "labels[2]"),
        (lambda d: d["app"].update(user=""), "app.user"),
        (lambda d: d["app"].pop("group"), "app.group"),
        (lambda d: d["app"].update(workingDirectory="srv"), "app.workingDirectory"),
        (
            lambda d: d["app"]["eventHandlers"].append({"name": "pre-start", "exec": []}),
            "app.eventHandlers[1]",
        ),
        (
            lambda d: d["app"]["eventHandlers"].append({"name": "on-start"}),
            "app.eventHandlers[1].name",
        ),
        (lambda d: d["app"]["ports"][0].update(port=65535), "app.ports[0].count"),
        (lambda d: d["app"]["ports"][0].update(port=0), "app.ports[0].port"),
        (lambda d: d["app"]["mountPoints"][0].update(name="Data"), "app.mountPoints[0].name"),
        (lambda d: d["app"]["supplementaryGIDs"].append(-1), "app.supplementaryGIDs[2]"),
        (lambda d: d["app"]["userLabels"].update(n=1), "app.userLabels.n"),
        (lambda d: d["dependencies"][0].update(imageID="md5-0"), "dependencies[0].imageID"),
        (lambda d: d.update(pathWhitelist=["bin"]), "pathWhitelist[0]"),
        (
            lambda d: d["app"]["isolators"][0]["value"].update(limit="x"),
            "app.isolators[0].value.limit",
        ),
    ],
)
def test_image_manifest_errors_name_the_path(edit: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        ImageManifest.from_json(_broken(IMAGE, edit))
    assert info.value.path == where, str(info.value)


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda d: d.pop("apps"), "apps"),
        (lambda d: d["apps"].append(dict(d["apps"][0])), "apps[1]"),
        (lambda d: d["apps"][0]["image"].pop("id"), "apps[0].image.id"),
        (lambda d: d["apps"][0]["mounts"][0].pop("volume"), "apps[0].mounts[0].volume"),
        (lambda d: d["volumes"].append(dict(d["volumes"][0])), "volumes[1]"),
        (lambda d: d["volumes"][0].update(source="rel"), "volumes[0].source"),
        (lambda d: d["volumes"][0].update(kind="nfs"), "volumes[0].kind"),
        (lambda d: d["volumes"][0].update(uid=1), "volumes[0].uid"),
        (lambda d: d["ports"][0].pop("hostPort"), "ports[0].hostPort"),
        (lambda d: d["ports"][0].update(hostIP="localhost"), "ports[0].hostIP"),
        (lambda d: d["isolators"][0].update(value=1), "isolators[0].value"),
    ],
)
def test_pod_manifest_errors_name_the_path(edit: Any, where: str) -> None:
    with pytest.raises(ValidationError) as info:
        PodManifest.from_json(_broken(POD, edit))
    assert info.value.path == where, str(info.value)


def test_not_json_and_limits() -> None:
    with pytest.raises(ValidationError, match="not valid JSON"):
        ImageManifest.from_json(b"{")
    with pytest.raises(ValidationError, match="expected at most"):
        ImageManifest.from_json(b" " * (1 << 20 + 1))
    deep = b"[" * 100 + b"]" * 100
    with pytest.raises(ValidationError, match="nests deeper"):
        ImageManifest.from_json(deep)
    with pytest.raises(ValidationError, match="expected an object"):
        ImageManifest.from_json(b"[]")


def test_volume_string_form() -> None:
    host = Volume.from_string("data,kind=host,source=/srv,readOnly=true,recursive=false")
    assert host == Volume("data", "host", "/srv", read_only=True, recursive=False)
    assert str(host) == "data,kind=host,source=/srv,readOnly=true,recursive=false"
    empty = Volume.from_string("tmp,kind=empty,mode=0700,uid=5,gid=6")
    assert (empty.mode, empty.uid, empty.gid) == ("0700", 5, 6)
    assert Volume.from_string(str(empty)) == empty
    assert str(Volume.from_string("tmp,kind=empty")) == "tmp,kind=empty"
    for bad in [
        "data",
        "data,kind=host",
        "data,kind=host,source=rel",
        "d,kind=empty,source=/x",
        "d,kind=host,source=/x,mode=0755",
        "d,kind=empty,uid=x",
        "d,kind=nfs",
        "d,kind=host,source=/x,color=red",
        "D,kind=empty",
        "d,kind=empty,mode=999",
    ]:
        with pytest.raises(ValidationError):
            Volume.from_string(bad)


def test_port_and_mount_point_string_forms() -> None:
    port = port_from_string("http,protocol=tcp,port=80,count=2,socketActivated=true")
    assert (port.name, port.port, port.count, port.socket_activated) == ("http", 80, 2, True)
    mount = mount_point_from_string("work,path=/opt,readOnly=true")
    assert (mount.name, mount.path, mount.read_only) == ("work", "/opt", True)
    with pytest.raises(ValidationError):
        port_from_string("http,protocol=tcp,port=70000")
    with pytest.raises(ValidationError):
        mount_point_from_string("work,readOnly=true")
