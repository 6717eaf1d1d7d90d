"""The default stage1 executor end to end, as root: a pod dir built by hand the way stage0 does
(pod manifest, appsinfo, a busybox root bind-mounted at stage1/rootfs/opt/stage2/<app>/rootfs),
the pod lock held and passed in RKT_LOCK_FD, ``python -m rkt.stage1.executor.run`` as a subprocess.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from appc.schema.image import ImageManifest
from appc.schema.linux import DEFAULT_CAPABILITIES
from appc.schema.pod import PodManifest
from rkt.linux import capability
from rkt.linux.mount import MNT_DETACH, MS_BIND, mount, umount2
from rkt.stage1.executor.gc import mounts_under, remove_cgroups

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and mounts need root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]

UUID = "0f0e0d0c-0b0a-4908-8706-050403020100"
IMAGE_ID = "sha512-" + "b" * 64
APPLETS = ("sh", "cat", "id", "echo", "hostname", "true", "false", "ls", "sleep", "grep")
PASSWD = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/:/bin/sh\n"
GROUP = "root:x:0:\napp:x:1000:\n"
TIMEOUT = 20


def _mountinfo() -> list[str]:
    # Mount ids change with every mount; the rest of each line identifies a mount.
    with open("/proc/self/mountinfo") as f:
        return sorted(" ".join(line.split()[4:]) for line in f)


class Pod:
    def __init__(self, root: Path) -> None:
        self.dir = root / UUID
        self.apps: list[str] = []
        self.binds: list[str] = []

    def app_root(self, name: str) -> Path:
        return self.dir / "stage1/rootfs/opt/stage2" / name / "rootfs"

    def add_app(self, name: str, exec_: list[str], user: str = "0", group: str = "0") -> None:
        root = self.app_root(name)
        for d in ("bin", "etc", "proc", "sys", "dev", "tmp"):
            (root / d).mkdir(parents=True, exist_ok=True)
        shutil.copy2("/bin/busybox", root / "bin/busybox")
        for applet in APPLETS:
            (root / "bin" / applet).symlink_to("busybox")
        (root / "etc/passwd").write_text(PASSWD)
        (root / "etc/group").write_text(GROUP)
        # As stage0 does with the overlay: the root is a mount point of its own.
        mount(str(root), str(root), None, MS_BIND)
        self.binds.append(str(root))
        image = {
            "acKind": "ImageManifest",
            "acVersion": "0.8.11",
            "name": f"example.com/{name}",
            "app": {"exec": exec_, "user": user, "group": group},
        }
        manifest = ImageManifest.from_json(json.dumps(image).encode())
        info = self.dir / "appsinfo" / name
        info.mkdir(parents=True)
        (info / "manifest").write_bytes(manifest.to_json())
        self.apps.append(name)

    def write_manifest(self, options: dict[str, Any] | None = None) -> None:
        doc = {
            "acKind": "PodManifest",
            "acVersion": "0.8.11",
            "apps": [
                {"name": n, "image": {"id": IMAGE_ID, "name": f"example.com/{n}"}}
                for n in self.apps
            ],
        }
        (self.dir / "pod").write_bytes(PodManifest.from_json(json.dumps(doc)).to_json())
        if options is not None:
            opts = {"version": 1, "options": options, "app_environment": {}, "net": "none"}
            (self.dir / "stage1/options.json").write_text(json.dumps(opts))

    def start(self) -> tuple[subprocess.Popen[str], int]:
        lock = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY)
        fcntl.flock(lock, fcntl.LOCK_EX)
        env = {**os.environ, "RKT_LOCK_FD": str(lock)}
        proc = subprocess.Popen(
            [sys.executable, "-m", "rkt.stage1.executor.run", f"--pod-dir={self.dir}"],
            env=env,
            pass_fds=(lock,),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        return proc, lock

    def run(self) -> subprocess.CompletedProcess[str]:
        proc, lock = self.start()
        try:
            out, err = proc.communicate(timeout=TIMEOUT)
        finally:
            os.close(lock)
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)

    def status(self, app: str) -> str:
        return (self.dir / "stage1/rootfs/rkt/status" / app).read_text()


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[Pod]:
    before = _mountinfo()
    pod = Pod(tmp_path)
    (pod.dir / "stage1").mkdir(parents=True)
    try:
        yield pod
    finally:
        # What the pod mounted stays in its own namespace: in the host's table, only the
        # app-root binds this fixture made (as stage0 would) may be under the pod dir.
        leaked = sorted(set(mounts_under(str(tmp_path))) - set(pod.binds))
        for target in mounts_under(str(tmp_path)):
            with contextlib.suppress(OSError):
                umount2(target, MNT_DETACH)
        remove_cgroups(str(pod.dir))  # gc's part, which these pods never meet
        assert leaked == []
        # Not a full equality with the table before: other tests may mount meanwhile.
        assert [line for line in _mountinfo() if line not in before and str(tmp_path) in line] == []


def test_exit_status_passes_through(pod: Pod) -> None:
    pod.add_app("seven", ["/bin/sh", "-c", "exit 7"])
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 7, result.stderr
    assert pod.status("seven") == "7\n"
    assert os.readlink(pod.dir / "stage1/rootfs/rkt/supervisor-status") == "ready"
    assert int((pod.dir / "pid").read_text()) > 1
    unenforced = json.loads((pod.dir / "stage1/unenforced-isolators.json").read_text())
    # Seccomp is enforced now (rkt.linux.seccomp): nothing is left unenforced.
    assert unenforced == {}


def test_what_a_root_app_sees(pod: Pod) -> None:
    script = (
        "hostname; echo pid=$$; cat /proc/1/comm; grep -E '^(CapBnd|CapEff|NoNewPrivs)' "
        "/proc/self/status; (echo x > /proc/sys/kernel/hostname) 2>/dev/null "
        "&& echo sys=rw || echo sys=ro; echo fds=$(ls /proc/self/fd)"
    )
    pod.add_app("web", ["/bin/sh", "-c", script])
    pod.write_manifest({"hostname": "testpod"})
    result = pod.run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "testpod"
    assert lines[1].startswith("pid=") and int(lines[1][4:]) > 1
    assert lines[2] == "rkt-supervisor"
    fields = dict(line.split(":\t") for line in lines[3:6])
    default = capability.mask(capability.NUMBERS[name] for name in DEFAULT_CAPABILITIES)
    assert int(fields["CapBnd"], 16) == default
    assert int(fields["CapEff"], 16) == default
    assert fields["NoNewPrivs"] == "0"
    assert lines[6] == "sys=ro"
    # 0-2 and the directory ls reads: no pod lock, no runtime fd.
    assert lines[7] == "fds=0 1 2 3"


def test_user_by_name_and_default_hostname(pod: Pod) -> None:
    script = "hostname; id; grep -E '^(CapBnd|CapEff|NoNewPrivs)' /proc/self/status"
    pod.add_app("web", ["/bin/sh", "-c", script], user="app", group="app")
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == f"rkt-{UUID}"
    assert lines[1].startswith("uid=1000(app) gid=1000(app)")
    fields = dict(line.split(":\t") for line in lines[2:5])
    default = capability.mask(capability.NUMBERS[name] for name in DEFAULT_CAPABILITIES)
    assert int(fields["CapBnd"], 16) == default
    assert int(fields["CapEff"], 16) == 0
    # Forced on: a non-root app with a seccomp filter (capabilities.no_new_privs).
    assert fields["NoNewPrivs"] == "1"


def test_two_apps_first_failure_wins(pod: Pod) -> None:
    pod.add_app("ok", ["/bin/sh", "-c", "echo ok"])
    pod.add_app("bad", ["/bin/sh", "-c", "exit 3"])
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 3, result.stderr
    assert pod.status("ok") == "0\n"
    assert pod.status("bad") == "3\n"
    assert "ok" in result.stdout


def test_sigterm_stops_the_pod(pod: Pod) -> None:
    pod.add_app("sleeper", ["/bin/sleep", "1000"])
    pod.write_manifest()
    proc, lock = pod.start()
    try:
        ready = pod.dir / "stage1/rootfs/rkt/supervisor-status"
        deadline = time.monotonic() + TIMEOUT
        while not ready.is_symlink() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        os.close(lock)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert pod.status("sleeper") == f"{128 + signal.SIGTERM}\n"


def test_gc_unmounts_everything(pod: Pod) -> None:
    pod.add_app("web", ["/bin/true"])
    pod.write_manifest()
    assert pod.run().returncode == 0
    # Only stage0's bind of the app root is left in the host's namespace, for gc to remove.
    assert mounts_under(str(pod.dir)) == [str(pod.app_root("web"))]
    gc = subprocess.run(
        [sys.executable, "-m", "rkt.stage1.executor.gc", f"--pod-dir={pod.dir}"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert gc.returncode == 0, gc.stderr
    assert mounts_under(str(pod.dir)) == []


def test_bad_pod_dir_is_254(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "rkt.stage1.executor.run", f"--pod-dir={tmp_path}"],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    assert result.returncode == 254
    assert result.stderr.startswith("stage1: ") and len(result.stderr.splitlines()) == 1


def test_the_app_sees_only_its_own_root(pod: Pod) -> None:
    script = "echo $(ls /); echo $(ls /dev); grep -c ' /proc/sys ro,' /proc/self/mountinfo"
    pod.add_app("web", ["/bin/sh", "-c", script])
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "bin dev etc proc sys tmp"
    assert lines[1].split() == sorted(
        [
            "fd",
            "full",
            "mqueue",
            "null",
            "ptmx",
            "pts",
            "random",
            "shm",
            "stderr",
            "stdin",
            "stdout",
            "tty",
            "urandom",
            "zero",
        ]
    )
    assert lines[2] == "1"
