"""``rkt api-service`` with a client generated from rkt's own api.proto: pods and images the CLI
made, listed and inspected with the fields ``rkt list``/``status``/``image list --format=json``
show, the filters, the error codes, socket activation, ListenEvents as pods and images come
and go, and the service answering while pods start, stop and are garbage-collected around it.

The service and its clients talk on 127.0.0.1 only; the pods have no network (``--net=none``).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from appc.aci.builder import build
from tests.integration import apiclient, podkit, servicekit
from tests.integration.podkit import RKT

grpc = pytest.importorskip("grpc", reason="needs the rocket[api] extra (scripts/setup.sh)")

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
]

TIMEOUT = 60
STATES = {
    "prepared": "POD_STATE_PREPARED",
    "running": "POD_STATE_RUNNING",
    "exited": "POD_STATE_EXITED",
    "exited garbage": "POD_STATE_GARBAGE",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> tuple[SimpleNamespace, SimpleNamespace]:
    return apiclient.generate(tmp_path_factory.mktemp("rktapi"))


def _image(tmp: Path, name: str, version: str, script: str) -> Path:
    """A busybox ACI with a version label and annotations, for the filters."""
    layout = tmp / f"{name}.layout"
    podkit.make_base_rootfs(layout / "rootfs")
    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": f"example.com/api/{name}",
        "labels": [{"name": "version", "value": version}, {"name": "tier", "value": name}],
        "annotations": [{"name": "authors", "value": f"{name} team"}],
        "app": {"exec": ["/bin/sh", "-c", script], "user": "0", "group": "0"},
    }
    (layout / "manifest").write_text(json.dumps(manifest))
    aci = tmp / f"{name}.aci"
    build(layout, aci)
    shutil.rmtree(layout)
    return aci


class Scene:
    """A data dir with a running, an exited and a prepared pod, and the API service on it."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.data = tmp / "data"
        self.front = _image(
            tmp, "front", "1.2.0", "echo READY; while [ ! -e /go ]; do sleep 0.1; done"
        )
        self.back = _image(tmp, "back", "0.9", "exit 3")
        self.procs: list[subprocess.Popen[str]] = []
        self.service: servicekit.Service | None = None

    def rkt(self, *args: str) -> subprocess.CompletedProcess[str]:
        return podkit.rkt(self.data, *args, timeout=TIMEOUT)

    def start_running(self) -> tuple[str, Path]:
        uuid_file, out = self.tmp / "front.uuid", self.tmp / "front.out"
        proc = subprocess.Popen(
            [*RKT, f"--dir={self.data}", "--insecure-options=image", "run", "--net=none",
             f"--uuid-file-save={uuid_file}", str(self.front)],
            stdout=out.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + TIMEOUT
        while "\nREADY" not in "\n" + (out.read_text() if out.exists() else ""):
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
        uuid = uuid_file.read_text().strip()
        return uuid, self.data / "pods/run" / uuid / "stage1/rootfs/opt/stage2/front/rootfs/go"

    def close(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        if self.service is not None:
            self.service.stop()
        podkit.cleanup(self.data, self.tmp)


@pytest.fixture
def scene(tmp_path: Path) -> Iterator[Scene]:
    found = Scene(tmp_path)
    try:
        yield found
    finally:
        found.close()


def _enum(api: tuple[SimpleNamespace, SimpleNamespace], value: int, enum: str) -> str:
    return str(getattr(api[0], enum).Name(value))


def _key_values(items: Any) -> dict[str, str]:
    return {kv.Key: kv.value for kv in items}


def test_lists_and_inspects_what_the_cli_made(
    scene: Scene, api: tuple[SimpleNamespace, SimpleNamespace]
) -> None:
    pb = api[0]
    running, go = scene.start_running()
    exited = scene.rkt("--insecure-options=image", "run", "--net=none", str(scene.back))
    assert exited.returncode == 3, exited.stderr
    prepared = scene.rkt("--insecure-options=image", "prepare", str(scene.back)).stdout.strip()
    scene.service, address = apiclient.start(scene.data, scene.tmp / "api.log")
    stub = apiclient.stub(api, address)

    listed = json.loads(scene.rkt("list", "--format=json").stdout)
    pods = {p.id: p for p in stub.ListPods(pb.ListPodsRequest(detail=True)).pods}
    assert sorted(pods) == sorted(p["name"] for p in listed)
    for doc in listed:
        pod = pods[doc["name"]]
        assert _enum(api, pod.state, "PodState") == STATES[doc["state"]]
        assert [a.name for a in pod.apps] == doc.get("app_names", [])
        assert [a.image.id for a in pod.apps] == [a["image_id"] for a in doc.get("apps", [])]
        assert pod.created_at // 10**9 == doc["created_at"]
        assert pod.started_at // 10**9 == doc.get("started_at", 0)
        status = json.loads(scene.rkt("status", "--format=json", pod.id).stdout)
        assert status == doc
        inspected = stub.InspectPod(pb.InspectPodRequest(id=pod.id[:8])).pod
        assert inspected == pod  # a prefix works, and ListPods(detail) is InspectPod's
        assert json.loads(pod.manifest) == json.loads(scene.rkt("cat-manifest", pod.id).stdout)
        for app, app_doc in zip(pod.apps, doc.get("apps", []), strict=True):
            assert app.exit_code == app_doc.get("exit_code", -1)

    # What only the API and `rkt status` show: pid and cgroup of the running pod.
    run_pod = pods[running]
    text = dict(line.split("=", 1) for line in scene.rkt("status", running).stdout.splitlines())
    assert run_pod.pid == int(text["pid"])
    if "cgroup" in text:
        assert run_pod.cgroup and text["cgroup"].endswith(run_pod.cgroup)
    assert run_pod.apps[0].image.name == "example.com/api/front"
    assert run_pod.apps[0].image.version == "1.2.0"
    assert _enum(api, run_pod.apps[0].state, "AppState") == "APP_STATE_RUNNING"
    back_pod = next(p for p in pods.values() if p.apps and p.apps[0].exit_code == 3)
    assert _enum(api, back_pod.apps[0].state, "AppState") == "APP_STATE_EXITED"
    assert _key_values(run_pod.annotations) == {"coreos.com/rkt/stage1/mutable": "false"}
    # Without detail, no manifests.
    assert all(not p.manifest for p in stub.ListPods(pb.ListPodsRequest()).pods)

    # Filters: conditions and-ed within a filter, filters or-ed.
    def ids(*filters: Any) -> set[str]:
        return {p.id for p in stub.ListPods(pb.ListPodsRequest(filters=filters)).pods}

    assert ids(pb.PodFilter(states=[pb.POD_STATE_RUNNING])) == {running}
    assert ids(pb.PodFilter(states=[pb.POD_STATE_PREPARED])) == {prepared}
    assert ids(pb.PodFilter(app_names=["back"])) == set(pods) - {running}
    assert ids(pb.PodFilter(app_names=["back"], states=[pb.POD_STATE_PREPARED])) == {prepared}
    assert ids(pb.PodFilter(ids=[running]), pb.PodFilter(ids=[prepared])) == {running, prepared}
    assert ids(pb.PodFilter(image_ids=[run_pod.apps[0].image.id])) == {running}
    assert ids(pb.PodFilter(annotations=[pb.KeyValue(Key="coreos.com/rkt/stage1/mutable",
                                                     value="true")])) == set()  # fmt: skip
    if run_pod.cgroup:
        assert ids(pb.PodFilter(cgroups=[run_pod.cgroup])) == {running}
        assert ids(pb.PodFilter(pod_sub_cgroups=[run_pod.cgroup + "/front"])) == {running}

    # Images, as `rkt image list --format=json` shows them.
    entries = json.loads(scene.rkt("image", "list", "--format=json").stdout)
    images = stub.ListImages(pb.ListImagesRequest()).images
    assert [i.id for i in images] == [e["id"] for e in entries]
    for image, entry in zip(images, entries, strict=True):
        assert f"{image.name}:{image.version}" == entry["name"]
        assert image.size == entry["size"]
        assert image.import_timestamp == entry["import_time"] // 10**9
        assert not image.manifest
        assert _key_values(image.labels)["tier"] in ("front", "back")
    front = stub.InspectImage(pb.InspectImageRequest(id=run_pod.apps[0].image.id[:20])).image
    assert json.loads(front.manifest)["name"] == "example.com/api/front"
    assert _key_values(front.annotations) == {"authors": "front team"}

    def names(*filters: Any) -> list[str]:
        found = stub.ListImages(pb.ListImagesRequest(filters=filters)).images
        return sorted(i.name for i in found)

    assert names(pb.ImageFilter(base_names=["front"])) == ["example.com/api/front"]
    assert names(pb.ImageFilter(prefixes=["example.com/api/"])) == [
        "example.com/api/back", "example.com/api/front"]  # fmt: skip
    assert names(pb.ImageFilter(keywords=["ack"])) == ["example.com/api/back"]
    assert names(pb.ImageFilter(labels=[pb.KeyValue(Key="version", value="0.9")])) == [
        "example.com/api/back"]  # fmt: skip
    wrong_author = pb.KeyValue(Key="authors", value="x")
    assert (
        names(pb.ImageFilter(full_names=["example.com/api/front"], annotations=[wrong_author]))
        == []
    )

    info = stub.GetInfo(pb.GetInfoRequest()).info
    assert (info.api_version, info.appc_version) == ("1.0.0-alpha", "0.8.11")
    assert info.global_flags.dir == str(scene.data)

    # Errors: codes a client can tell apart, one-line messages.
    for call, request, code in (
        (stub.InspectPod, pb.InspectPodRequest(id="ffffffff"), grpc.StatusCode.NOT_FOUND),
        (stub.InspectImage, pb.InspectImageRequest(id="sha512-00"), grpc.StatusCode.NOT_FOUND),
        (stub.InspectImage, pb.InspectImageRequest(id="nope"), grpc.StatusCode.INVALID_ARGUMENT),
    ):
        with pytest.raises(grpc.RpcError) as failed:
            call(request)
        assert failed.value.code() == code, failed.value.details()
    with pytest.raises(grpc.RpcError) as no_logs:
        list(stub.GetLogs(pb.GetLogsRequest(pod_id=running)))
    assert no_logs.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "not recorded" in no_logs.value.details()

    go.touch()
    assert scene.procs[0].wait(TIMEOUT) == 0
    after = stub.InspectPod(pb.InspectPodRequest(id=running)).pod
    assert _enum(api, after.state, "PodState") == "POD_STATE_EXITED"
    assert after.apps[0].exit_code == 0 and not after.cgroup


def test_socket_activation(scene: Scene, api: tuple[SimpleNamespace, SimpleNamespace]) -> None:
    """The service serves a TCP socket handed over as systemd does, and refuses --listen
    with it (rkt's rule)."""
    pb = api[0]
    listener = servicekit.tcp_listener("127.0.0.1")
    port = listener.getsockname()[1]
    scene.service, address = apiclient.start(scene.data, scene.tmp / "api.log", sockets=[listener])
    assert address == f"127.0.0.1:{port}"
    stub = apiclient.stub(api, address)
    assert stub.GetInfo(pb.GetInfoRequest()).info.global_flags.dir == str(scene.data)
    assert list(stub.ListPods(pb.ListPodsRequest()).pods) == []
    assert scene.service.stop() == 0
    both = servicekit.Service(
        [f"--dir={scene.data}", "api-service", "--listen=127.0.0.1:0"],
        scene.tmp / "both.log",
        sockets=[servicekit.tcp_listener("127.0.0.1")],
    )
    assert both.proc.wait(30) == 254
    assert "LISTEN_FDS" in both.text() and "--listen" in both.text()


def test_listen_events(scene: Scene, api: tuple[SimpleNamespace, SimpleNamespace]) -> None:
    pb = api[0]
    scene.service, address = apiclient.start(scene.data, scene.tmp / "api.log")
    stub = apiclient.stub(api, address)
    seen: list[tuple[str, str, str, dict[str, str]]] = []
    stream = stub.ListenEvents(pb.ListenEventsRequest(filter=pb.EventFilter()))

    def read() -> None:
        with contextlib.suppress(grpc.RpcError):  # cancelled at the end
            for response in stream:
                for event in response.events:
                    kind = _enum(api, event.type, "EventType").removeprefix("EVENT_TYPE_")
                    seen.append((kind, event.id, getattr(event, "from"), _key_values(event.data)))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    # The stream's first look is its baseline: what is there then is never reported. A
    # sentinel image fetched until the stream reports it shows that the look was taken.
    sentinel = _image(scene.tmp, "sentinel", "1", "exit 0")

    def sentinel_seen() -> bool:
        fetched = scene.rkt("--insecure-options=image", "fetch", "--full", str(sentinel))
        found = any(k == "IMAGE_IMPORTED" and i == fetched.stdout.strip() for k, i, _, _ in seen)
        deadline = time.monotonic() + 2 * INTERVAL + 1
        while not found and time.monotonic() < deadline:
            time.sleep(0.05)
            found = any(k == "IMAGE_IMPORTED" and i == fetched.stdout.strip()
                        for k, i, _, _ in seen)  # fmt: skip
        if not found:
            scene.rkt("image", "rm", fetched.stdout.strip())  # fetched before the baseline
        return found

    _until(sentinel_seen, seen)
    uuid = scene.rkt("--insecure-options=image", "prepare", str(scene.back)).stdout.strip()
    kinds = lambda: [k for k, i, _, _ in seen if i == uuid]  # noqa: E731
    _until(lambda: "POD_PREPARED" in kinds(), seen)
    assert scene.rkt("run-prepared", "--net=none", uuid).returncode == 3
    _until(lambda: "POD_EXITED" in kinds(), seen)
    for _ in range(2):
        scene.rkt("gc", "--grace-period=0s")
    _until(lambda: "POD_GARBAGE_COLLECTED" in kinds(), seen)
    assert kinds() == ["POD_PREPARED", "POD_STARTED", "APP_STARTED", "APP_EXITED", "POD_EXITED",
                       "POD_GARBAGE_COLLECTED"]  # fmt: skip
    exited = next(e for e in seen if e[0] == "APP_EXITED")
    assert exited[2] == "back" and exited[3] == {"exit_code": "3"}
    image = [e for e in seen if e[0] == "IMAGE_IMPORTED" and "sentinel" not in e[2]]
    assert [e[2] for e in image] == ["example.com/api/back"]
    assert scene.rkt("image", "rm", image[0][1]).returncode == 0
    _until(lambda: any(e[0] == "IMAGE_REMOVED" for e in seen), seen)
    stream.cancel()
    reader.join(10)


INTERVAL = 0.5  # rkt.api.events.INTERVAL: seconds between two looks


def _until(check: Any, seen: list[Any], timeout: float = TIMEOUT) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)


def test_answers_while_pods_come_and_go(
    scene: Scene, api: tuple[SimpleNamespace, SimpleNamespace]
) -> None:
    """Clients list without a failure while pods are run, removed and collected, and the CLI
    never finds a pod locked by the service (rkt rm and gc succeed every time)."""
    pb = api[0]
    scene.service, address = apiclient.start(scene.data, scene.tmp / "api.log")
    stub = apiclient.stub(api, address)
    stop = threading.Event()
    failures: list[str] = []
    calls = [0]

    def hammer() -> None:
        while not stop.is_set():
            try:
                stub.ListPods(pb.ListPodsRequest(detail=True))
                calls[0] += 1
            except grpc.RpcError as err:
                failures.append(f"{err.code()}: {err.details()}")

    threads = [threading.Thread(target=hammer, daemon=True) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(4):
            assert scene.rkt("--insecure-options=image", "run", "--net=none",
                             str(scene.back)).returncode == 3  # fmt: skip
        listed = json.loads(scene.rkt("list", "--format=json").stdout)
        removed = scene.rkt("rm", listed[0]["name"])
        assert removed.returncode == 0, removed.stderr
        for _ in range(2):
            gc = scene.rkt("gc", "--grace-period=0s")
            assert gc.returncode == 0 and "currently being deleted" not in gc.stderr, gc.stderr
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert failures == []
    assert calls[0] > 0
    assert scene.rkt("list", "--no-legend").stdout.strip() == ""
