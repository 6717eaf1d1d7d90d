"""The API service's pure parts: lock-free lock probing, events from snapshots, filters, the
generated code being current, and socket activation's environment."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from pathlib import Path

import pytest

from rkt.errors import ServiceError
from rkt.linux.activation import listen_sockets
from rkt.linux.flocks import LockTable, parse

pb = pytest.importorskip("rkt.api.v1alpha_pb2", reason="needs the rocket[api] extra")

ROOT = Path(__file__).resolve().parents[2]


def test_proc_locks_parsing() -> None:
    text = (
        "1: FLOCK  ADVISORY  WRITE 19900 fe:00:2180193 0 EOF\n"
        "2: FLOCK  ADVISORY  READ  19901 fe:00:2180194 0 EOF\n"
        "3: POSIX  ADVISORY  WRITE 19902 fe:00:2180195 0 EOF\n"
        "4: -> FLOCK  ADVISORY  WRITE 19903 fe:00:2180196 0 EOF\n"
        "5: FLOCK  ADVISORY  WRITE 19904 00:2a:2 0 EOF\n"
        "6: OFDLCK ADVISORY  WRITE -1 08:01:77 0 EOF\n"
    )
    assert parse(text) == {(os.makedev(0xFE, 0), 2180193), (os.makedev(0, 0x2A), 2)}


def test_lock_table_sees_an_exclusive_flock_without_locking(tmp_path: Path) -> None:
    holder = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
    other = tmp_path / "other"
    other.mkdir()
    reader = os.open(other, os.O_RDONLY | os.O_DIRECTORY)
    try:
        assert not LockTable(str(tmp_path)).locked(holder)
        fcntl.flock(holder, fcntl.LOCK_EX)
        table = LockTable(str(tmp_path))
        probe = os.open(tmp_path, os.O_RDONLY | os.O_DIRECTORY)
        try:
            assert table.locked(probe) and not table.locked(reader)
        finally:
            os.close(probe)
        fcntl.flock(reader, fcntl.LOCK_SH)  # a shared lock (a prober's) holds nothing
        assert not LockTable(str(tmp_path)).locked(reader)
    finally:
        os.close(holder)
        os.close(reader)


def _view(state: int, *apps: tuple[str, int | None]) -> object:
    from rkt.api.events import PodView

    return PodView(state, tuple(apps))


def test_events_from_snapshots() -> None:
    from rkt.api.events import Snapshot, diff

    uuid = "6733c8d2-b32f-4a34-8a33-b3a6f2bc0c9e"

    def kinds(old: Snapshot, new: Snapshot) -> list[tuple[str, str, str]]:
        return [
            (pb.EventType.Name(e.type).removeprefix("EVENT_TYPE_"), e.id, getattr(e, "from"))
            for e in diff(old, new, 100)
        ]

    empty = Snapshot({}, {})
    prepared = Snapshot({uuid: _view(pb.POD_STATE_PREPARED, ("web", None))}, {})
    running = Snapshot({uuid: _view(pb.POD_STATE_RUNNING, ("web", None))}, {})
    exited = Snapshot({uuid: _view(pb.POD_STATE_EXITED, ("web", 0))}, {})
    assert kinds(empty, prepared) == [("POD_PREPARED", uuid, uuid)]
    assert kinds(prepared, running) == [("POD_STARTED", uuid, uuid), ("APP_STARTED", uuid, "web")]
    assert kinds(running, exited) == [("APP_EXITED", uuid, "web"), ("POD_EXITED", uuid, uuid)]
    # Everything between two looks, in order; then the pod's removal.
    assert [k for k, _, _ in kinds(empty, exited)] == [
        "POD_STARTED", "APP_STARTED", "APP_EXITED", "POD_EXITED"]  # fmt: skip
    garbage = Snapshot({uuid: _view(pb.POD_STATE_GARBAGE, ("web", 0))}, {})
    assert kinds(exited, garbage) == []
    assert kinds(garbage, empty) == [("POD_GARBAGE_COLLECTED", uuid, uuid)]
    aborted = Snapshot({uuid: _view(pb.POD_STATE_ABORTED_PREPARE)}, {})
    assert kinds(empty, aborted) == [("POD_PREPARE_ABORTED", uuid, uuid)]
    images = Snapshot({}, {"sha512-aa": "example.com/a"})
    assert kinds(empty, images) == [("IMAGE_IMPORTED", "sha512-aa", "example.com/a")]
    assert kinds(images, empty) == [("IMAGE_REMOVED", "sha512-aa", "example.com/a")]
    event = diff(running, exited, 100)[0]
    assert {kv.Key: kv.value for kv in event.data} == {"exit_code": "0"}


def test_pod_filters() -> None:
    from rkt.api.pods import satisfies_any

    pod = pb.Pod(
        id="a",
        state=pb.POD_STATE_RUNNING,
        cgroup="/rkt/a",
        apps=[pb.App(name="web", image=pb.Image(id="sha512-1")),
              pb.App(name="db", image=pb.Image(id="sha512-2"))],
        networks=[pb.Network(name="default", ipv4="172.16.28.2")],
        annotations=[pb.KeyValue(Key="k", value="v")],
    )  # fmt: skip
    yes = [
        [],
        [pb.PodFilter(ids=["b", "a"])],
        [pb.PodFilter(app_names=["web", "db"], states=[pb.POD_STATE_RUNNING])],
        [pb.PodFilter(image_ids=["sha512-2"], network_names=["default"])],
        [pb.PodFilter(annotations=[pb.KeyValue(Key="k", value="v")])],
        [pb.PodFilter(pod_sub_cgroups=["/rkt/a/web"])],
        [pb.PodFilter(ids=["x"]), pb.PodFilter(cgroups=["/rkt/a"])],
    ]
    no = [
        [pb.PodFilter(ids=["b"])],
        [pb.PodFilter(app_names=["web", "cache"])],
        [pb.PodFilter(states=[pb.POD_STATE_EXITED])],
        [pb.PodFilter(annotations=[pb.KeyValue(Key="k", value="w")])],
        [pb.PodFilter(pod_sub_cgroups=["/other"])],
        [pb.PodFilter(ids=["a"], network_names=["other"])],
    ]
    assert all(satisfies_any(pod, f) for f in yes)
    assert not any(satisfies_any(pod, f) for f in no)
    assert not satisfies_any(pb.Pod(id="a"), [pb.PodFilter(pod_sub_cgroups=["/x"])])


def test_image_filters() -> None:
    from rkt.api.images import satisfies_any

    image = pb.Image(
        id="sha512-1",
        name="coreos.com/etcd",
        import_timestamp=1000,
        labels=[pb.KeyValue(Key="version", value="3")],
    )
    assert satisfies_any(image, [pb.ImageFilter(base_names=["etcd"], keywords=["ore"])])
    assert satisfies_any(image, [pb.ImageFilter(imported_after=999, imported_before=1001)])
    assert not satisfies_any(image, [pb.ImageFilter(base_names=["etc"])])
    assert not satisfies_any(image, [pb.ImageFilter(imported_after=1000)])
    assert not satisfies_any(image, [pb.ImageFilter(prefixes=["k8s.io/"])])
    assert not satisfies_any(image, [pb.ImageFilter(labels=[pb.KeyValue(Key="version")])])


def test_cgroup_names() -> None:
    from rkt.api.pods import cgroup_name

    points = ["/", "/sys/fs/cgroup", "/sys/fs/cgroup/memory"]
    assert cgroup_name("/sys/fs/cgroup/memory/rkt/a", points) == "/rkt/a"
    assert cgroup_name("/sys/fs/cgroup/rkt/a", ["/", "/sys/fs/cgroup"]) == "/rkt/a"


def test_generated_code_is_current(tmp_path: Path) -> None:
    """scripts/gen-api.sh's output, committed, equals a fresh generation from the proto."""
    pytest.importorskip("grpc_tools", reason="grpcio-tools is in the test extra")
    (tmp_path / "rkt/api").mkdir(parents=True)
    proto = tmp_path / "rkt/api/v1alpha.proto"
    proto.write_bytes((ROOT / "src/rkt/api/v1alpha.proto").read_bytes())
    subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{tmp_path}", f"--python_out={tmp_path}",
         f"--pyi_out={tmp_path}", f"--grpc_python_out={tmp_path}", str(proto)],
        check=True,
    )  # fmt: skip
    for name in ("v1alpha_pb2.py", "v1alpha_pb2.pyi", "v1alpha_pb2_grpc.py"):
        fresh = (tmp_path / "rkt/api" / name).read_text()
        assert fresh == (ROOT / "src/rkt/api" / name).read_text(), (
            f"run scripts/gen-api.sh ({name})"
        )


def test_activation_environment() -> None:
    env = {"LISTEN_FDS": "2", "LISTEN_PID": str(os.getpid() + 1)}
    assert listen_sockets(env) == [] and env == {}  # another process's sockets; unset
    assert listen_sockets({}) == []
    with pytest.raises(ServiceError, match="not a number"):
        listen_sockets({"LISTEN_FDS": "x", "LISTEN_PID": str(os.getpid())})
    with pytest.raises(ServiceError, match="expected 1 to 64"):
        listen_sockets({"LISTEN_FDS": "0", "LISTEN_PID": str(os.getpid())})


def test_the_cli_never_imports_grpc() -> None:
    """grpc is the api-service verb's alone: `rkt list` and `rkt run --help` load none of it."""
    code = (
        "import sys; from rkt.cli import main\n"
        "for argv in (['list', '--dir=/nonexistent'], ['metadata-service', '--help']):\n"
        "    try: main.main(argv)\n"
        "    except SystemExit: pass\n"
        "assert not [m for m in sys.modules if m.startswith(('grpc', 'google.protobuf'))]\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, capture_output=True)


def test_shared_scan_never_answers_with_a_walk_begun_before_the_call() -> None:
    import itertools
    import threading

    from rkt.api.scan import SharedScan

    counter = itertools.count()
    first_running, release = threading.Event(), threading.Event()

    def walk() -> int:
        number = next(counter)
        if number == 0:
            first_running.set()
            release.wait(10)
        return number

    scan = SharedScan(walk)
    answers: list[int] = []
    first = threading.Thread(target=lambda: answers.append(scan.get()))
    first.start()
    assert first_running.wait(10)
    later: list[int] = []
    threads = [threading.Thread(target=lambda: later.append(scan.get())) for _ in range(5)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in [first, *threads]:
        thread.join(10)
    assert answers == [0]
    assert len(later) == 5 and min(later) >= 1  # walk 0 began before they asked

    def broken() -> int:
        raise OSError("gone")

    with pytest.raises(OSError, match="gone"):
        SharedScan(broken).get()
