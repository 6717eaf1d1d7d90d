"""``rkt enter`` and ``rkt stop`` on real pods: enter joins the app's jail (docs/security.md
10), stop ends the pod through its PID 1."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appc.aci.builder import build
from rkt.linux.mount import MNT_DETACH, umount2

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]

RKT = [sys.executable, "-m", "rkt.cli.main"]
MANIFEST = {
    "acKind": "ImageManifest",
    "acVersion": "0.8.11",
    "name": "example.com/enter",
    "app": {"exec": ["/bin/sleep", "1000"], "user": "0", "group": "0"},
}
TOOLS = ("sh", "sleep", "cat", "hostname", "id", "ls", "echo", "readlink", "true")
TIMEOUT = 30
JAIL_FIELDS = ("CapBnd", "CapEff", "CapPrm", "CapInh", "CapAmb", "NoNewPrivs", "Uid", "Gid")


def mounts_under(path: Path) -> list[str]:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        return [line.split()[4] for line in f if line.split()[4].startswith(str(path) + "/")]


def rkt(data: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RKT, f"--dir={data}", *args], capture_output=True, text=True, timeout=timeout, check=False
    )


def states(data: Path) -> dict[str, str]:
    done = rkt(data, "list", "--format=json")
    assert done.returncode == 0, done.stderr
    return {pod["name"]: pod["state"] for pod in json.loads(done.stdout) or []}


def status_fields(text: str) -> dict[str, str]:
    pairs = (line.partition(":") for line in text.splitlines())
    return {key: value.strip() for key, sep, value in pairs if sep}


class Pods:
    """Background ``rkt run`` processes, each in a session of its own, cleaned up at the end."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.data = root / "data"
        self.procs: list[subprocess.Popen[bytes]] = []
        layout = root / "layout"
        (layout / "rootfs/bin").mkdir(parents=True)
        shutil.copy("/bin/busybox", layout / "rootfs/bin/busybox")
        for name in TOOLS:
            (layout / "rootfs/bin" / name).symlink_to("busybox")
        (layout / "manifest").write_text(json.dumps(MANIFEST))
        self.aci = root / "enter.aci"
        build(layout, self.aci, owner_root=True)
        (layout / "manifest").write_text(json.dumps(MANIFEST | {"name": "example.com/other"}))
        self.other = root / "other.aci"
        build(layout, self.other, owner_root=True)

    def start(self, *more: Path) -> tuple[str, subprocess.Popen[bytes]]:
        uuid_file = self.root / f"uuid{len(self.procs)}"
        proc = subprocess.Popen(
            [*RKT, f"--dir={self.data}", "--insecure-options=image", "run", "--net=none",
             str(self.aci), "--exec=/bin/sleep", "--", "1000", "---", *map(str, more),
             f"--uuid-file-save={uuid_file}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + TIMEOUT
        while not (uuid_file.exists() and uuid_file.read_text().strip()):
            assert proc.poll() is None, "rkt run exited early"
            assert time.monotonic() < deadline, "the pod never appeared"
            time.sleep(0.1)
        uuid = uuid_file.read_text().strip()
        ready = self.data / "pods/run" / uuid / "stage1/rootfs/rkt/supervisor-status"
        while states(self.data).get(uuid) != "running" or not ready.is_symlink():
            assert proc.poll() is None, "rkt run exited early"
            assert time.monotonic() < deadline, states(self.data)
            time.sleep(0.1)
        return uuid, proc

    def pid1(self, uuid: str) -> int:
        return int((self.data / "pods/run" / uuid / "pid").read_text())

    def app_pid(self, uuid: str) -> int | None:
        try:
            pid1 = self.pid1(uuid)
        except (FileNotFoundError, ValueError):
            return None
        for name in os.listdir("/proc"):
            try:
                stat = Path(f"/proc/{name}/stat").read_bytes()
            except (OSError, ValueError):
                continue
            if name.isdigit() and int(stat[stat.rindex(b")") + 2 :].split()[1]) == pid1:
                return int(name)
        return None

    def cleanup(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(TIMEOUT)
        # PID 1 of each pod was in its session too; wait for the lock holders to go.
        deadline = time.monotonic() + TIMEOUT
        while "running" in states(self.data).values() and time.monotonic() < deadline:
            time.sleep(0.1)
        rkt(self.data, "gc", "--grace-period=0s")
        rkt(self.data, "gc", "--grace-period=0s")


@pytest.fixture
def pods(tmp_path: Path) -> Iterator[Pods]:
    pods = Pods(tmp_path)
    try:
        yield pods
    finally:
        try:
            pods.cleanup()
        finally:
            for target in sorted(mounts_under(tmp_path), key=len, reverse=True):
                umount2(target, MNT_DETACH)


def test_enter_joins_the_apps_jail(pods: Pods) -> None:
    uuid, _ = pods.start()
    app = pods.app_pid(uuid)
    assert app is not None
    script = "cat /proc/self/status; echo ---; hostname; id; echo ---; ls /; echo ---; " \
             "cat /proc/1/comm; echo $AC_APP_NAME; exit 7"  # fmt: skip
    done = rkt(pods.data, "enter", uuid, "/bin/sh", "-c", script)
    assert done.returncode == 7, done.stderr  # CMD's status passes through
    status, ids, listing, rest = done.stdout.split("---\n")
    entered = status_fields(status)
    expected = status_fields(Path(f"/proc/{app}/status").read_text())
    for field in JAIL_FIELDS:
        assert entered[field] == expected[field], field
    # The pod's pid namespace: pid 1 is the supervisor, and we are not the host's pid.
    assert rest.split() == ["rkt-supervisor", "enter"]
    hostname, ident = ids.splitlines()
    assert hostname == f"rkt-{uuid}"
    assert ident.startswith("uid=0(") or ident.startswith("uid=0 ")
    # The app's root, not the host's.
    names = listing.split()
    assert "bin" in names and "work" not in names and "usr" not in names
    # The same namespaces as the app (nsfs inode numbers are the same from every namespace).
    kinds = ("ipc", "uts", "net", "pid", "mnt")
    script = "; ".join(f"readlink /proc/self/ns/{kind}" for kind in kinds)
    seen = rkt(pods.data, "enter", uuid, "/bin/sh", "-c", script)
    assert seen.returncode == 0, seen.stderr
    assert seen.stdout.split() == [os.readlink(f"/proc/{app}/ns/{kind}") for kind in kinds]
    assert all(
        os.readlink(f"/proc/{app}/ns/{k}") != os.readlink(f"/proc/self/ns/{k}") for k in kinds
    )


def test_enter_unknown_app_fails(pods: Pods) -> None:
    uuid, _ = pods.start()
    done = rkt(pods.data, "enter", "--app=nope", uuid, "/bin/true")
    assert done.returncode == 254
    assert 'app "nope" not found' in done.stderr


def test_enter_needs_app_when_several(pods: Pods) -> None:
    uuid, _ = pods.start(pods.other)
    done = rkt(pods.data, "enter", uuid, "/bin/true")
    assert done.returncode == 254
    assert "multiple apps" in done.stderr and "--app=" in done.stderr
    done = rkt(pods.data, "enter", "--app=other", uuid, "/bin/sh", "-c", "echo $AC_APP_NAME")
    assert (done.returncode, done.stdout) == (0, "other\n"), done.stderr


def test_enter_default_command_and_stdin(pods: Pods) -> None:
    uuid, _ = pods.start()
    done = subprocess.run(
        [*RKT, f"--dir={pods.data}", "enter", uuid[:8]],
        input="echo inside $AC_APP_NAME; exit 3\n", capture_output=True, text=True,
        timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr
    assert done.stdout.strip() == "inside enter"
    assert 'assuming "/bin/sh"' in done.stderr


def test_stop_then_force_then_stop_exited(pods: Pods) -> None:
    first, run1 = pods.start()
    second, run2 = pods.start()
    done = rkt(pods.data, "stop", first)
    assert done.returncode == 0, done.stderr
    assert done.stdout == f'"{first}"\n'
    assert run1.wait(TIMEOUT) == 128 + signal.SIGTERM
    deadline = time.monotonic() + 5
    while states(pods.data)[first] != "exited":
        assert time.monotonic() < deadline, states(pods.data)
        time.sleep(0.1)
    assert "app-enter=143" in rkt(pods.data, "status", first).stdout

    done = rkt(pods.data, "stop", "--force", second)
    assert done.returncode == 0, done.stderr
    assert run2.wait(TIMEOUT) == 128 + signal.SIGKILL
    deadline = time.monotonic() + 5
    while states(pods.data)[second] != "exited":
        assert time.monotonic() < deadline, states(pods.data)
        time.sleep(0.1)

    done = rkt(pods.data, "stop", first)
    assert done.returncode == 254
    assert f'pod "{first}" is not running' in done.stderr
    assert "failed to stop 1 pod(s)" in done.stderr
    done = rkt(pods.data, "enter", first, "/bin/true")
    assert done.returncode == 254 and "isn't currently running" in done.stderr
