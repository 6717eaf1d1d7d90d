"""``--private-users`` on real pods: the pod's ids shifted into a host range of its own, with
overlayfs (idmapped lower layer) and with ``--no-overlay`` (a shifted copy).

Observed from inside (``uid_map``, ``id``, owners of the image's files, capabilities) and from
the host (owners of what the pod wrote: overlay upper dir, empty and host volumes), plus
ranges of concurrent pods, ``rkt enter``, and host-wide writes that root in the pod cannot do
even with every capability.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import RKT, make_image, rkt, run_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

COUNT = 65536


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ("stat", "ls", "nc", "mknod", "head", "chown")  # owners, ports, devices


def _image(base: Path, tmp_path: Path, script: str, **app: object) -> Path:
    return make_image(base, tmp_path, "users", {"exec": ["/bin/sh", "-c", script], **app})


def _pod_dir(data: Path, uuid: str) -> Path:
    found = list((data / "pods").glob(f"*/{uuid}"))
    assert len(found) == 1, found
    return found[0]


def _range(pod_dir: Path) -> tuple[int, int]:
    first, _, count = (pod_dir / "private-users-prepared").read_text().strip().partition(":")
    return int(first), int(count)


def _run(data: Path, tmp_path: Path, *words: str) -> tuple[subprocess.CompletedProcess[str], Path]:
    uuid_file = tmp_path / "uuid"
    done = run_pod(data, "--private-users", f"--uuid-file-save={uuid_file}", *words)
    assert done.returncode == 0, done.stderr
    return done, _pod_dir(data, uuid_file.read_text().strip())


def test_root_in_the_pod_is_an_unprivileged_host_range(
    data: Path, base: Path, tmp_path: Path
) -> None:
    script = (
        "cat /proc/self/uid_map /proc/self/gid_map; id -u; id -g;"
        " stat -c '%u:%g' /bin/busybox /etc/passwd /;"
        " echo hi > /written; mkdir /made; grep CapEff /proc/self/status"
    )
    done, pod_dir = _run(data, tmp_path, str(_image(base, tmp_path, script)))
    first, count = _range(pod_dir)
    assert count == COUNT and 0x70000000 <= first < 0x7FFE0000 and first % COUNT == 0
    lines = done.stdout.split("\n")
    assert lines[0].split() == ["0", str(first), str(COUNT)]  # uid_map
    assert lines[1].split() == ["0", str(first), str(COUNT)]  # gid_map
    assert lines[2:4] == ["0", "0"]  # root inside
    assert lines[4:7] == ["0:0", "0:0", "0:0"]  # the image's files are the pod's root's
    assert lines[7] == "CapEff:\t00000000a80425fb"  # rkt's default set, in the namespace
    # On the host, what the pod wrote belongs to the range, not to root.
    upper = pod_dir / "overlay/users/upper"
    for name in ("written", "made"):
        info = os.lstat(upper / name)
        assert (info.st_uid, info.st_gid) == (first, first), name
    # The tree in the store keeps its owners (the shift is the mount's, not the files').
    tree_id = (pod_dir / "appsinfo/users/treeStoreID").read_text().strip()
    tree = next((data / "cas/tree").glob(f"{tree_id}*"))
    assert os.lstat(next(tree.rglob("busybox"))).st_uid == 0


def test_a_non_root_app_and_volumes_write_as_its_host_ids(
    data: Path, base: Path, tmp_path: Path
) -> None:
    host_dir = tmp_path / "host-volume"
    host_dir.mkdir()
    host_dir.chmod(0o777)
    script = "id -u; echo a > /empty/file; echo b > /host/file; stat -c '%u:%g' /empty"
    aci = _image(
        base,
        tmp_path,
        script,
        user="1000",
        group="1000",
        mountPoints=[{"name": "empty", "path": "/empty"}, {"name": "host", "path": "/host"}],
    )
    done, pod_dir = _run(
        data,
        tmp_path,
        "--volume=empty,kind=empty,uid=1000,gid=1000",
        f"--volume=host,kind=host,source={host_dir}",
        str(aci),
    )
    first, _ = _range(pod_dir)
    assert done.stdout.split() == ["1000", "1000:1000"]
    empty = pod_dir / "volumes/empty"
    assert (os.stat(empty).st_uid, os.stat(empty).st_gid) == (first + 1000, first + 1000)
    for path in (empty / "file", host_dir / "file"):
        info = os.stat(path)
        assert (info.st_uid, info.st_gid) == (first + 1000, first + 1000), path


def test_no_overlay_shifts_a_copy(data: Path, base: Path, tmp_path: Path) -> None:
    script = "id -u; stat -c '%u:%g' /bin/busybox /etc/group; echo x > /copied"
    done, pod_dir = _run(data, tmp_path, "--no-overlay", str(_image(base, tmp_path, script)))
    first, _ = _range(pod_dir)
    assert done.stdout.split() == ["0", "0:0", "0:0"]
    root = pod_dir / "stage1/rootfs/opt/stage2/users/rootfs"
    for name in ("bin/busybox", "copied"):
        assert os.lstat(root / name).st_uid == first, name
    assert not (pod_dir / "overlay-prepared").exists()


def test_concurrent_pods_get_disjoint_ranges(data: Path, base: Path, tmp_path: Path) -> None:
    aci = _image(base, tmp_path, "cat /proc/self/uid_map")
    procs = [
        subprocess.Popen(
            [
                *RKT,
                f"--dir={data}",
                "--insecure-options=image",
                "prepare",
                "--quiet",
                "--private-users",
                str(aci),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(4)
    ]
    uuids = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        uuids.append(out.strip())
    ranges = sorted(_range(_pod_dir(data, uuid)) for uuid in uuids)
    for (first, count), (following, _) in itertools.pairwise(ranges):
        assert first + count <= following, ranges
    done = rkt(data, "run-prepared", uuids[0])
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["0", str(_range(_pod_dir(data, uuids[0]))[0]), str(COUNT)]


def test_enter_joins_the_user_namespace(data: Path, base: Path, tmp_path: Path) -> None:
    aci = _image(base, tmp_path, "touch /tmp/ready; sleep 30")
    uuid_file = tmp_path / "uuid"
    proc = subprocess.Popen(
        [*RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none",
         "--private-users", f"--uuid-file-save={uuid_file}", str(aci)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )  # fmt: skip
    uuid = ""
    try:
        deadline = time.monotonic() + 30
        while True:
            uuid = uuid_file.read_text().strip() if uuid_file.exists() else ""
            entered = (
                rkt(data, "enter", uuid, "/bin/sh", "-c", "test -e /tmp/ready") if uuid else None
            )
            if entered is not None and entered.returncode == 0:
                break
            assert time.monotonic() < deadline, entered.stderr if entered else "no uuid"
            time.sleep(0.1)
        first, _ = _range(_pod_dir(data, uuid))
        done = rkt(data, "enter", uuid, "/bin/sh", "-c", "id -u; cat /proc/self/uid_map; id -G")
        assert done.returncode == 0, done.stderr
        assert done.stdout.split() == ["0", "0", str(first), str(COUNT), "0"]
        stopped = rkt(data, "stop", uuid)
        assert stopped.returncode == 0, stopped.stderr
        proc.wait(30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)


def test_all_capabilities_still_cannot_touch_the_host(
    data: Path, base: Path, tmp_path: Path
) -> None:
    # Every capability, no seccomp filter, no masked paths: only the user namespace stands
    # between the pod and the host, and host-wide knobs and devices stay out of reach.
    script = (
        "echo 1 > /proc/sys/vm/drop_caches && echo drop_caches-written;"
        " echo 61 > /proc/sys/vm/swappiness && echo swappiness-written;"
        " mknod /tmp/sda b 8 0 && echo mknod-done;"
        " hostname rktpu && hostname;"
        " echo done"
    )
    aci = _image(base, tmp_path, script)
    before = Path("/proc/sys/vm/swappiness").read_text()
    done = rkt(
        data, "--insecure-options=image,capabilities,paths,seccomp", "run", "--net=none",
        "--private-users", str(aci),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # The pod's own UTS namespace is its to change; the host's knobs are not.
    assert done.stdout.split() == ["rktpu", "done"], done.stdout + done.stderr
    assert Path("/proc/sys/vm/swappiness").read_text() == before
    assert os.uname().nodename != "rktpu"


def test_a_pod_network_with_private_users_serves_low_ports(
    data: Path, base: Path, tmp_path: Path
) -> None:
    etc = tmp_path / "etc"
    (etc / "net.d").mkdir(parents=True)
    doc = {
        "cniVersion": "1.0.0",
        "name": "pu",
        "type": "ptp",
        "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": "10.231.87.0/24", "dataDir": str(tmp_path / "l")},
    }
    (etc / "net.d/10-pu.conf").write_text(json.dumps(doc))
    # Listening once port 80 (0050) is in the socket table, unless nc died (EACCES) first.
    script = (
        "nc -l -p 80 & pid=$!; "
        "until cat /proc/net/tcp /proc/net/tcp6 | grep -q ':0050 [0-9A-F]*:0000 0A' "
        "|| ! kill -0 $pid; do sleep 0.02; done; "
        "kill $pid && echo listening; ls /sys/class/net"
    )
    aci = _image(base, tmp_path, script)
    done = rkt(
        data, f"--local-config={etc}", "--insecure-options=image", "run", "--net=pu",
        "--private-users", str(aci),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.split()[0] == "listening", done.stdout + done.stderr


def test_a_pod_manifest_runs_with_private_users(data: Path, base: Path, tmp_path: Path) -> None:
    aci = _image(base, tmp_path, "cat /proc/self/uid_map")
    fetched = rkt(data, "--insecure-options=image", "fetch", "--full", str(aci))
    assert fetched.returncode == 0, fetched.stderr
    image_id = fetched.stdout.split()[-1]
    manifest = {
        "acKind": "PodManifest",
        "acVersion": "0.8.11",
        "apps": [{"name": "only", "image": {"id": image_id}}],
    }
    path = tmp_path / "pod.json"
    path.write_text(json.dumps(manifest))
    uuid_file = tmp_path / "uuid"
    done = rkt(
        data, "run", "--net=none", "--private-users", f"--pod-manifest={path}",
        f"--uuid-file-save={uuid_file}",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    first, _ = _range(_pod_dir(data, uuid_file.read_text().strip()))
    assert done.stdout.split() == ["0", str(first), str(COUNT)]
