"""``rkt prepare/run --pod-manifest=FILE`` end to end: real pods from a pod manifest whose images
are already in the store, observed from inside the pod, and the errors that must leave no pod.

Behaviour from rkt 1.30 (rkt/run.go, rkt/prepare.go, stage0 validatePodManifest): the manifest
is the whole pod, its images are found in the store by ID and never fetched, and image
arguments or flags that would change the pod are refused.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podkit
from tests.integration.podkit import lines, make_image, rkt

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

CAP_NET_BIND_SERVICE = 1 << 10
PHASES = ("embryo", "prepare", "prepared", "run")


@pytest.fixture
def image_id(base: Path, tmp_path: Path, data: Path) -> str:
    """A busybox image fetched into the store; its app prints IMAGE-APP (used when the pod
    manifest's app has no app section)."""
    aci = make_image(base, tmp_path, "pm", {"exec": ["/bin/sh", "-c", "echo IMAGE-APP"]})
    done = rkt(data, "--insecure-options=image", "fetch", "--full", str(aci))
    assert done.returncode == 0, done.stderr
    return lines(done.stdout)[-1]


def pod_manifest(apps: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"acKind": "PodManifest", "acVersion": "0.8.11", "apps": apps, **extra}


def write(tmp_path: Path, manifest: dict[str, Any] | str, name: str = "pod.json") -> str:
    path = tmp_path / name
    path.write_text(manifest if isinstance(manifest, str) else json.dumps(manifest))
    return str(path)


def sh(script: str, **app: Any) -> dict[str, Any]:
    return {"exec": ["/bin/sh", "-c", script], "user": "0", "group": "0", **app}


def pods(data: Path) -> dict[str, list[str]]:
    """The pods in each phase that matters: none may be left by a failed prepare."""
    return {
        phase: sorted(os.listdir(data / "pods" / phase))
        for phase in PHASES
        if (data / "pods" / phase).is_dir()
    }


def run(data: Path, path: str, *words: str) -> Any:
    return rkt(data, "run", "--net=none", f"--pod-manifest={path}", *words)


def test_prepare_then_run_prepared_with_app_fields(
    data: Path, tmp_path: Path, image_id: str
) -> None:
    script = (
        "echo ARGS:$0:$1; echo ID:$(id -u):$(id -g); echo PWD:$(pwd); echo ENV:$GREETING; "
        "grep ^CapBnd /proc/self/status"
    )
    app = sh(
        script,
        user="1000",
        group="2000",
        workingDirectory="/tmp",
        environment=[{"name": "GREETING", "value": "hello"}],
        isolators=[
            {"name": "os/linux/capabilities-retain-set", "value": {"set": ["CAP_NET_BIND_SERVICE"]}}
        ],
    )
    app["exec"] = [*app["exec"], "zero", "one"]
    manifest = pod_manifest(
        [
            {
                "name": "inspect",
                "image": {"id": image_id[:40]},  # a unique prefix, completed in the pod
                "app": app,
                "annotations": [{"name": "example.com/note", "value": "from-manifest"}],
            }
        ]
    )
    done = rkt(data, "prepare", f"--pod-manifest={write(tmp_path, manifest)}")
    assert done.returncode == 0, done.stderr
    (uuid,) = lines(done.stdout)  # the UUID is all prepare prints
    stored = json.loads(rkt(data, "cat-manifest", uuid).stdout)
    assert stored["apps"][0]["image"]["id"] == image_id
    assert stored["apps"][0]["annotations"] == [
        {"name": "example.com/note", "value": "from-manifest"}
    ]
    # The user's manifest is the pod's: rkt adds no annotation of its own to it.
    assert stored["annotations"] == []
    ran = rkt(data, "run-prepared", uuid)
    assert ran.returncode == 0, (ran.stdout, ran.stderr)
    out = lines(ran.stdout)
    assert "ARGS:zero:one" in out
    assert "ID:1000:2000" in out
    assert "PWD:/tmp" in out
    assert "ENV:hello" in out
    cap_line = next(line for line in out if line.startswith("CapBnd:"))
    assert int(cap_line.split()[1], 16) == CAP_NET_BIND_SERVICE


def test_run_two_apps_sharing_empty_and_host_volumes(
    data: Path, tmp_path: Path, image_id: str
) -> None:
    host_dir = tmp_path / "host"
    host_dir.mkdir()
    (host_dir / "from-host").write_text("host-data\n")
    writer = sh("echo shared-data > /shared/file; cp /hostvol/from-host /hostvol/copied")
    reader = sh(
        "i=0; while [ ! -s /shared/file ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done; "
        "echo READ:$(cat /shared/file); exit 3"
    )
    mounts = [{"volume": "shared", "path": "/shared"}, {"volume": "hostvol", "path": "/hostvol"}]
    manifest = pod_manifest(
        [
            {"name": "writer", "image": {"id": image_id}, "app": writer, "mounts": mounts},
            {"name": "reader", "image": {"id": image_id}, "app": reader, "mounts": mounts[:1]},
        ],
        volumes=[
            {"name": "shared", "kind": "empty"},
            {"name": "hostvol", "kind": "host", "source": str(host_dir)},
        ],
    )
    done = run(data, write(tmp_path, manifest))
    # rkt's rule: the status of the first app to exit non-zero.
    assert done.returncode == 3, (done.stdout, done.stderr)
    assert "READ:shared-data" in lines(done.stdout)
    assert (host_dir / "copied").read_text() == "host-data\n"


def test_app_without_app_section_runs_its_image_app(
    data: Path, tmp_path: Path, image_id: str
) -> None:
    path = write(tmp_path, pod_manifest([{"name": "plain", "image": {"id": image_id}}]))
    done = run(data, path, "--hostname=from-flag")
    assert done.returncode == 0, done.stderr
    assert lines(done.stdout) == ["IMAGE-APP"]


@pytest.mark.parametrize(
    ("words", "expected"),
    [
        (["IMAGE"], "image arguments"),
        (["--volume=v,kind=empty"], "--volume"),
        (["--set-env=A=B"], "--set-env"),
        (["--pull-policy=never"], "--pull-policy=never"),
    ],
)
def test_conflicting_arguments_are_refused(
    data: Path, tmp_path: Path, image_id: str, words: list[str], expected: str
) -> None:
    path = write(tmp_path, pod_manifest([{"name": "plain", "image": {"id": image_id}}]))
    argv = [image_id if w == "IMAGE" else w for w in words]
    # Flags go before --pod-manifest's images position; an image is the last word.
    done = rkt(data, "run", "--net=none", f"--pod-manifest={path}", *argv)
    assert done.returncode == 254, (done.stdout, done.stderr)
    assert expected in done.stderr and "--pod-manifest" in done.stderr
    assert not any(pods(data).values())


def _bad(image_id: str, tmp_path: Path) -> dict[str, tuple[str, list[str]]]:
    missing_id = "sha512-" + "0" * 128
    good_app = {"name": "a", "image": {"id": image_id}}
    return {
        "missing file": (str(tmp_path / "nope.json"), ["nope.json", "No such file"]),
        "invalid json": (write(tmp_path, "{not json", "bad.json"), ["bad.json", "not valid JSON"]),
        "wrong kind": (
            write(tmp_path, {**pod_manifest([good_app]), "acKind": "ImageManifest"}, "k.json"),
            ["k.json", "acKind", "ImageManifest", "PodManifest"],
        ),
        "unknown image": (
            write(tmp_path, pod_manifest([{"name": "a", "image": {"id": missing_id}}]), "i.json"),
            ["i.json", "apps[0].image.id", missing_id, "rkt fetch"],
        ),
        "missing volume": (
            write(
                tmp_path,
                pod_manifest([{**good_app, "mounts": [{"volume": "data", "path": "/data"}]}]),
                "v.json",
            ),
            ["v.json", "apps[0].mounts[0].volume", '"data"', "volumes"],
        ),
    }


@pytest.mark.parametrize(
    "case", ["missing file", "invalid json", "wrong kind", "unknown image", "missing volume"]
)
@pytest.mark.parametrize("verb", ["prepare", "run"])
def test_invalid_manifest_is_a_clear_error_and_leaves_no_pod(
    data: Path, tmp_path: Path, image_id: str, case: str, verb: str
) -> None:
    path, expected = _bad(image_id, tmp_path)[case]
    extra = ["--net=none"] if verb == "run" else []
    done = rkt(data, verb, *extra, f"--pod-manifest={path}")
    assert done.returncode == 254, (done.stdout, done.stderr)
    assert done.stdout == ""
    for word in expected:
        assert word in done.stderr, (word, done.stderr)
    assert not any(pods(data).values()), pods(data)
