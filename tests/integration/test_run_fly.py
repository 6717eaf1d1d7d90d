"""The fly stage1 on real pods: one app chrooted into its rootfs in a mount namespace of its
own, with the host's network, hostname, pids, /dev, /proc and /sys (rkt's stage1-fly)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.podkit import (
    RKT,
    cleanup,
    is_root_with_busybox,
    make_base_rootfs,
    make_image,
    mounts_under,
    rkt,
    section,
)

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not is_root_with_busybox(), reason="pods need root and busybox-static"),
]

FLY = "--stage1-name=coreos.com/rkt/stage1-fly"
TIMEOUT = 30
MARKER = "from the image\n"
#: What the app reports, one section each.
REPORT = "; ".join(
    [
        "echo '== net =='; ls /sys/class/net",
        "echo '== netns =='; readlink /proc/self/ns/net",
        "echo '== host =='; hostname",
        "echo '== init =='; cat /proc/1/comm; readlink /proc/self/ns/pid",
        "echo '== mnt =='; readlink /proc/self/ns/mnt",
        "echo '== files =='; cat /marker; test -e /etc/debian_version || echo no-host-etc",
        "echo '== volume =='; cat /data/host-file; echo written > /data/from-app",
        "echo '== id =='; id -u; id -g; pwd; echo $FOO; echo $AC_APP_NAME",
        "exit 7",
    ]
)


def _customize(root: Path) -> None:
    (root / "marker").write_text(MARKER)


@pytest.fixture
def images(tmp_path: Path) -> Iterator[tuple[Path, Path, Path]]:
    base = make_base_rootfs(tmp_path / "base", extra_applets=("readlink", "ls", "id"))
    app = {
        "exec": ["/bin/sh", "-c", REPORT],
        "user": "app",
        "group": "app",
        "workingDirectory": "/home/app",
        "environment": [{"name": "FOO", "value": "bar"}],
    }
    report = make_image(base, tmp_path, "flyreport", app, customize=_customize)
    sleeper = make_image(base, tmp_path, "flysleep", {"exec": ["/bin/sleep", "1000"]},
                         customize=_customize)  # fmt: skip
    data = tmp_path / "data"
    try:
        yield data, report, sleeper
    finally:
        cleanup(data, tmp_path)


def _states(data: Path) -> dict[str, str]:
    done = rkt(data, "list", "--format=json")
    assert done.returncode == 0, done.stderr
    return {pod["name"]: pod["state"] for pod in json.loads(done.stdout) or []}


def test_fly_app_sees_the_host(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    data, report, _ = images
    volume = tmp_path / "vol"
    volume.mkdir()
    (volume / "host-file").write_text("from the host\n")
    os.chmod(volume, 0o777)
    done = rkt(data, "--insecure-options=image", "run", FLY, str(report),
               f"--volume=data,kind=host,source={volume}",
               "--mount=volume=data,target=/data")  # fmt: skip
    assert done.returncode == 7, done.stderr  # the app's status passes through
    out = done.stdout
    assert sorted(section(out, "net")) == sorted(os.listdir("/sys/class/net"))
    assert section(out, "netns") == [os.readlink("/proc/self/ns/net")]
    assert section(out, "host") == [os.uname().nodename]
    # The host's pid namespace: /proc/1 is the host's init, in our own pid namespace.
    host_init = Path("/proc/1/comm").read_text().strip()
    assert section(out, "init") == [host_init, os.readlink("/proc/self/ns/pid")]
    # A mount namespace of its own, chrooted into the image's root.
    assert section(out, "mnt") != [os.readlink("/proc/self/ns/mnt")]
    assert section(out, "files") == ["from the image", "no-host-etc"]
    assert section(out, "volume") == ["from the host"]
    assert (volume / "from-app").read_text() == "written\n"
    # The image's user, group, working directory and environment.
    assert section(out, "id") == ["1000", "1000", "/home/app", "bar", "flyreport"]
    uuid = next(iter(_states(data)))
    assert _states(data) == {uuid: "exited"}
    status = rkt(data, "status", uuid)
    assert "state=exited" in status.stdout and "app-flyreport=7" in status.stdout, status.stdout
    # The app's mounts died with its namespace; gc unmounts stage0's rootfs and removes the pod.
    for _ in range(2):
        gc = rkt(data, "gc", "--grace-period=0s")
        assert gc.returncode == 0, gc.stderr
    assert mounts_under(data) == []
    assert not any((data / "pods").glob("*/*"))


def _start(data: Path, image: Path, uuid_file: Path) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen(
        [*RKT, f"--dir={data}", "--insecure-options=image", "run", FLY, "--net=host", str(image),
         f"--uuid-file-save={uuid_file}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    deadline = time.monotonic() + TIMEOUT
    while not (uuid_file.exists() and uuid_file.read_text().strip()):
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, "the pod never appeared"
        time.sleep(0.1)
    uuid = uuid_file.read_text().strip()
    ready = data / "pods/run" / uuid / "stage1/rootfs/rkt/supervisor-status"
    while _states(data).get(uuid) != "running" or not ready.is_symlink():
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        assert time.monotonic() < deadline, _states(data)
        time.sleep(0.1)
    return proc


def test_fly_enter_stop_and_gc(images: tuple[Path, Path, Path], tmp_path: Path) -> None:
    data, _, sleeper = images
    proc = _start(data, sleeper, tmp_path / "uuid")
    try:
        uuid = (tmp_path / "uuid").read_text().strip()
        status = rkt(data, "status", uuid)
        assert "state=running" in status.stdout, status.stdout
        app = int((data / "pods/run" / uuid / "pid").read_text())
        assert Path(f"/proc/{app}/cmdline").read_bytes() == b"/bin/sleep\x001000\x00"
        script = "cat /marker; id -u; readlink /proc/self/ns/mnt; hostname; exit 3"
        entered = rkt(data, "enter", uuid, "/bin/sh", "-c", script)
        assert entered.returncode == 3, entered.stderr
        assert entered.stdout.splitlines() == [
            MARKER.strip(), "0", os.readlink(f"/proc/{app}/ns/mnt"), os.uname().nodename
        ]  # fmt: skip
        # The default command is looked up along the app's PATH inside its root.
        listing = rkt(data, "enter", uuid, "ls", "/")
        assert listing.returncode == 0, listing.stderr
        assert "marker" in listing.stdout.split()
        stop = rkt(data, "stop", uuid)
        assert (stop.returncode, stop.stdout) == (0, f'"{uuid}"\n'), stop.stderr
        assert proc.wait(TIMEOUT) == 128 + signal.SIGTERM
        assert _states(data) == {uuid: "exited"}
        code = data / "pods/run" / uuid / "stage1/rootfs/rkt/status/flysleep"
        assert code.read_text() == f"{128 + signal.SIGTERM}\n"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(TIMEOUT)
    for _ in range(2):
        assert rkt(data, "gc", "--grace-period=0s").returncode == 0
    assert mounts_under(data) == []
    assert _states(data) == {}


def test_fly_refuses_two_images(images: tuple[Path, Path, Path]) -> None:
    data, report, sleeper = images
    done = rkt(data, "--insecure-options=image", "run", FLY, str(report), str(sleeper))
    assert done.returncode == 254
    assert "fly stage1 runs exactly one app per pod" in done.stderr
    assert not (data / "pods").exists() or not any((data / "pods").glob("*/*"))


def test_fly_selected_by_file_name_and_net_ignored(images: tuple[Path, Path, Path]) -> None:
    data, report, _ = images
    done = rkt(data, "--insecure-options=image", "run", "--stage1-from-dir=stage1-fly.aci",
               "--net=none", str(report), "--exec=/bin/sh", "--", "-c",
               "readlink /proc/self/ns/net; hostname")  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "--net=none ignored" in done.stderr
    assert done.stdout.split() == [os.readlink("/proc/self/ns/net"), os.uname().nodename]


def test_fly_prepared_then_run(images: tuple[Path, Path, Path]) -> None:
    """The flavor is recorded at prepare time: run-prepared takes it from the pod directory."""
    data, report, _ = images
    prepared = rkt(data, "--insecure-options=image", "prepare", FLY, str(report),
                   "--exec=/bin/sh", "--", "-c", "hostname; exit 4")  # fmt: skip
    assert prepared.returncode == 0, prepared.stderr
    uuid = prepared.stdout.strip()
    done = rkt(data, "run-prepared", uuid)
    assert (done.returncode, done.stdout) == (4, os.uname().nodename + "\n"), done.stderr
