"""Rocket on a systemd host with cgroup v2 only, inside the VM of scripts/vm.sh.

``rkt run`` from a login shell, from ``systemd-run`` (a scope, a service) and from a service
with ``Delegate=yes``: the pod's cgroups are where rkt.linux.placement says (a scope of the
pod's own in machine.slice, or the delegated subtree), no cgroup holding processes has
controllers for children, the memory, cpu, pids and io limits are in the app's leaf, a memory
hog is OOM-killed and reported, and gc leaves no cgroup. Then rkt's systemd integration:
machined registration, ``Type=notify`` readiness, socket activation, journal output, and the
units of dist/ (the gc timer runs; the data dir gets group rkt).
"""

from __future__ import annotations

import grp
import os
import shlex
import shutil
import socket
import subprocess
import time
import uuid as uuid_module
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from rkt.linux import cgroup
from rkt.pod import layout
from tests.integration import podkit

RKT = "/opt/rocket/bin/rkt"
HELPER = "/mnt/out/bin/sdhelper"
APPLETS = ("head", "tr", "true", "dd")
MiB = 1 << 20

pytestmark = [
    pytest.mark.skipif(not os.path.isdir("/run/systemd/system"), reason="needs systemd (the VM)")
]


def _wait_for(condition: Callable[[], Any], what: str, timeout: float = 120, unit: str = "") -> Any:
    """``condition()`` once true; on timeout an AssertionError (with ``unit``'s journal)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            log = _run("journalctl", "--no-pager", "-n", "40", "-u", unit).stdout if unit else ""
            raise AssertionError(f"timed out waiting for {what}\n{log}")
        time.sleep(0.1)


def _run(*words: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        words, capture_output=True, text=True, timeout=timeout, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def _rkt(data: Path, *args: str) -> list[str]:
    return [RKT, f"--dir={data}", "--insecure-options=image", *args]


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = podkit.make_base_rootfs(tmp_path_factory.mktemp("base") / "rootfs", APPLETS)
    shutil.copy(HELPER, root / "bin/sdhelper")
    return root


class Pod:
    """A pod started by ``rkt run`` in some context, its UUID read from --uuid-file-save."""

    def __init__(self, data: Path, tmp_path: Path) -> None:
        self.data = data
        self.uuid_file = tmp_path / f"uuid-{uuid_module.uuid4().hex[:6]}"
        self.uuid = ""

    def run_words(self, aci: Path, *extra: str) -> list[str]:
        return _rkt(
            self.data, "run", "--net=none", str(aci), f"--uuid-file-save={self.uuid_file}", *extra
        )

    def wait_uuid(self) -> str:
        def read() -> str:
            try:
                return self.uuid_file.read_text().strip()
            except FileNotFoundError:
                return ""

        self.uuid = _wait_for(read, "the pod's UUID")
        return self.uuid

    @property
    def directory(self) -> Path:
        # A pod moving between phase directories (prepare/ to run/) can be listed in both by
        # one glob: look again.
        found: list[Path] = []
        for _ in range(100):
            found = list((self.data / "pods").glob(f"*/{self.uuid}"))
            if len(found) == 1:
                return found[0]
            time.sleep(0.01)
        raise AssertionError(f"pod {self.uuid}: found {found}")

    def status(self, *flags: str) -> subprocess.CompletedProcess[str]:
        return _run(RKT, f"--dir={self.data}", "status", *flags, self.uuid)

    def wait_ready(self) -> None:
        done = self.status("--wait-ready=120s")
        assert done.returncode == 0, done.stderr

    def supervisor(self) -> str:
        try:
            return os.readlink(self.directory / "stage1/rootfs/rkt/supervisor-status")
        except OSError:
            return ""

    def gc(self) -> None:
        for _ in range(2):
            done = _run(RKT, f"--dir={self.data}", "gc", "--grace-period=0s")
            assert done.returncode == 0, done.stderr


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def _unit_state(unit: str) -> str:
    return _run("systemctl", "show", "-p", "ActiveState", "--value", unit).stdout.strip()


# How each context starts rkt run: a login shell (pam_systemd: session-N.scope), a scope and a
# service from systemd-run, and a service that delegates its cgroup.
CONTEXTS: dict[str, Callable[[list[str]], list[str]]] = {
    "login-shell": lambda words: ["su", "-l", "root", "-c", shlex.join(words)],
    "systemd-run-scope": lambda words: ["systemd-run", "--scope", "--quiet", *words],
    "systemd-run-service": lambda words: ["systemd-run", "--wait", "--pipe", "--quiet", *words],
    "delegate-service": lambda words: [
        "systemd-run", "--wait", "--pipe", "--quiet", "-p", "Delegate=yes", *words,
    ],
}  # fmt: skip
PLACEMENT = {
    "login-shell": "scope",
    "systemd-run-scope": "scope",
    "systemd-run-service": "scope",
    "delegate-service": "delegated",
}
LIMITS = [
    {"name": "resource/memory", "value": {"limit": "32Mi"}},
    {"name": "resource/cpu", "value": {"limit": "500m"}},
    {"name": "os/linux/cpu-shares", "value": 512},
    {"name": "rkt.coreos.com/pids-limit", "value": {"max": 64}},
    {"name": "resource/block-bandwidth", "value": {"default": True, "limit": "10Mi"}},
]
HOG = (
    "while [ ! -e /gate/go ]; do sleep 0.1; done;"
    ' x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'
)


def test_a_login_shell_is_a_session_of_its_own() -> None:
    done = _run("su", "-l", "root", "-c", "cat /proc/self/cgroup")
    assert done.returncode == 0, done.stderr
    assert "/user.slice/" in done.stdout and "/session-" in done.stdout, done.stdout


@pytest.mark.parametrize("context", sorted(CONTEXTS))
def test_limits_hold_in_the_pods_own_cgroups_and_gc_leaves_none(
    context: str, base: Path, tmp_path: Path
) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    app = {
        "exec": ["/bin/sh", "-c", HOG],
        "isolators": LIMITS,
        "mountPoints": [{"name": "gate", "path": "/gate"}],
    }
    aci = podkit.make_image(base, tmp_path, "lim", app)
    pod = Pod(tmp_path / "data", tmp_path)
    words = pod.run_words(aci, f"--volume=gate,kind=host,source={gate}")
    proc = subprocess.Popen(
        CONTEXTS[context](words), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        pod.wait_uuid()
        pod.wait_ready()
        record = cgroup.load(str(pod.directory / layout.CGROUP_RECORD))
        assert record is not None and record.version == cgroup.V2
        assert record.mode == PLACEMENT[context]
        root = record.dirs["memory"]
        if record.mode == "scope":
            assert root == f"/sys/fs/cgroup/machine.slice/rkt-{pod.uuid}.scope/pod"
            assert _unit_state(f"rkt-{pod.uuid}.scope") == "active"
        else:
            assert root.startswith("/sys/fs/cgroup/system.slice/run-")
            assert os.path.basename(root) == f"rkt-{pod.uuid}"
        leaf = os.path.join(root, "lim")
        assert _read(f"{leaf}/memory.max") == str(32 * MiB)
        assert _read(f"{leaf}/memory.swap.max") == "0"
        assert _read(f"{leaf}/cpu.max") == "50000 100000"
        assert _read(f"{leaf}/cpu.weight") == str(cgroup.shares_to_weight(512))
        assert _read(f"{leaf}/pids.max") == "64"
        assert f"rbps={10 * MiB} wbps={10 * MiB}" in _read(f"{leaf}/io.max")
        assert _read(f"{leaf}/cgroup.procs"), "the app runs in its leaf"
        # v2's rule: processes only in leaves, from the pod's base down.
        for inner in (os.path.dirname(root), root):
            assert _read(f"{inner}/cgroup.procs") == "", inner
            assert "memory" in _read(f"{inner}/cgroup.subtree_control").split()
        (gate / "go").touch()
        out, err = proc.communicate(timeout=240)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "survived" not in out, (out, err)
    status = pod.status().stdout.splitlines()
    assert "app-lim=137" in status and "app-lim-oom=true" in status, (status, err)
    pod.gc()
    assert not any(os.path.exists(d) for d in record.roots())
    if record.unit:
        assert _unit_state(record.unit) in ("inactive", "")
        assert not os.path.exists(os.path.dirname(root))


def _detached_unit(name: str, words: list[str], *properties: str) -> None:
    done = _run("systemd-run", f"--unit={name}", "--quiet", "--no-block", *properties, *words)
    assert done.returncode == 0, done.stderr


def _stop(*units: str) -> None:
    _run("systemctl", "stop", *units)


def test_machinectl_lists_shows_and_terminates_the_pod(base: Path, tmp_path: Path) -> None:
    aci = podkit.make_image(base, tmp_path, "idle", {"exec": ["/bin/sh", "-c", "sleep 600"]})
    pod = Pod(tmp_path / "data", tmp_path)
    unit = f"rkt-machine-{uuid_module.uuid4().hex[:8]}"
    _detached_unit(unit, pod.run_words(aci))
    try:
        pod.wait_uuid()
        pod.wait_ready()
        name = f"rkt-{pod.uuid}"
        _wait_for(lambda: name in _run("machinectl", "list", "--no-legend").stdout, "machinectl")
        shown = _run("machinectl", "status", name)
        assert shown.returncode == 0 and f"rkt-{pod.uuid}.scope" in shown.stdout, shown
        assert _run("machinectl", "terminate", name).returncode == 0
        _wait_for(lambda: _unit_state(unit) in ("inactive", "failed", ""), "the unit to stop")
        _wait_for(lambda: "state=exited" in pod.status().stdout, "the pod to exit")
        assert name not in _run("machinectl", "list", "--no-legend").stdout
    finally:
        _stop(unit)
    pod.gc()


NOTIFY = {"appc.io/executor/supports-systemd-notify": "true"}


def test_type_notify_units_start_when_the_app_says_ready(base: Path, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    gate.mkdir()
    script = (
        "while [ ! -e /gate/go ]; do sleep 0.1; done;"
        ' /bin/sdhelper notify READY=1 && echo "$NOTIFY_SOCKET"; exec sleep 600'
    )
    app = {"exec": ["/bin/sh", "-c", script], "mountPoints": [{"name": "gate", "path": "/gate"}]}
    aci = podkit.make_image(base, tmp_path, "notifier", app, annotations=NOTIFY)
    pod = Pod(tmp_path / "data", tmp_path)
    unit = f"rkt-notify-{uuid_module.uuid4().hex[:8]}"
    words = pod.run_words(aci, f"--volume=gate,kind=host,source={gate}")
    _detached_unit(unit, words, "-p", "Type=notify")
    try:
        pod.wait_uuid()
        _wait_for(lambda: pod.supervisor() == "started", "the app to start", unit=unit)
        assert _unit_state(unit) == "activating"  # no READY=1 yet
        assert pod.status("--wait-ready=1s").returncode != 0
        (gate / "go").touch()
        _wait_for(lambda: _unit_state(unit) == "active", "READY=1 to reach the unit")
        assert pod.supervisor() == "ready"
        assert pod.status("--wait-ready=10s").returncode == 0
    finally:
        _stop(unit)
    _wait_for(lambda: "state=exited" in pod.status().stdout, "the pod to exit")
    pod.gc()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_socket_activation_hands_the_socket_to_the_app(base: Path, tmp_path: Path) -> None:
    port = _free_port()
    app = {
        "exec": ["/bin/sdhelper", "serve", "hello-from-the-pod"],
        "ports": [{"name": "echo", "protocol": "tcp", "port": port, "socketActivated": True}],
    }
    aci = podkit.make_image(base, tmp_path, "activated", app)
    pod = Pod(tmp_path / "data", tmp_path)
    unit = f"rkt-socket-{uuid_module.uuid4().hex[:8]}"
    done = _run(
        "systemd-run", f"--unit={unit}", "--quiet",
        f"--socket-property=ListenStream=127.0.0.1:{port}", *pod.run_words(aci),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    try:
        assert _unit_state(f"{unit}.service") == "inactive"  # started by the first connection
        with socket.create_connection(("127.0.0.1", port), timeout=240) as connection:
            answer = connection.makefile().readline()
        assert answer.startswith("hello-from-the-pod fds=1 names="), answer
        pod.wait_uuid()
    finally:
        _stop(f"{unit}.socket", f"{unit}.service")
    _wait_for(lambda: "state=exited" in pod.status().stdout, "the pod to exit")
    pod.gc()


def test_app_output_goes_to_the_journal_with_the_apps_name(base: Path, tmp_path: Path) -> None:
    token = uuid_module.uuid4().hex
    script = f"echo out-{token}; echo err-{token} >&2"
    aci = podkit.make_image(base, tmp_path, "chatty", {"exec": ["/bin/sh", "-c", script]})
    pod = Pod(tmp_path / "data", tmp_path)
    unit = f"rkt-journal-{uuid_module.uuid4().hex[:8]}"
    done = _run("systemd-run", f"--unit={unit}", "--wait", "--quiet", *pod.run_words(aci))
    assert done.returncode == 0, done.stderr
    pod.wait_uuid()

    def journal(*match: str) -> str:
        return _run("journalctl", "--no-pager", "-o", "cat", *match).stdout

    _wait_for(lambda: f"out-{token}" in journal("SYSLOG_IDENTIFIER=chatty"), "the app's line")
    assert f"err-{token}" in journal("SYSLOG_IDENTIFIER=chatty", "-p", "err")
    assert f"out-{token}" in journal("-u", f"rkt-{pod.uuid}.scope")
    pod.gc()


def test_the_dist_units_install_and_the_gc_timer_runs(base: Path, tmp_path: Path) -> None:
    done = _run("bash", "/mnt/rocket/scripts/install-units.sh", f"--rkt={RKT}")
    assert done.returncode == 0, done.stderr
    group = grp.getgrnam("rkt").gr_gid
    info = os.stat("/var/lib/rkt")
    assert (info.st_gid, info.st_mode & 0o7777) == (group, 0o2750)
    assert os.stat("/etc/rkt").st_gid == grp.getgrnam("rkt-admin").gr_gid
    assert _unit_state("rkt-gc.timer") == "active"

    def gc_ran() -> bool:
        shown = _run("systemctl", "show", "rkt-gc.service", "-p", "Result", "-p",
                     "ExecMainExitTimestampMonotonic").stdout  # fmt: skip
        return "Result=success" in shown and "Monotonic=0\n" not in shown + "\n"

    _wait_for(gc_ran, "the timer's first gc")
    # A pod in the default data dir, collected by the unit: the modes stay rkt's.
    aci = podkit.make_image(base, tmp_path, "once", {"exec": ["/bin/true"]})
    run = _run(RKT, "--insecure-options=image", "run", "--net=none", str(aci))
    assert run.returncode == 0, run.stderr
    info = os.stat("/var/lib/rkt")
    assert (info.st_gid, info.st_mode & 0o7777) == (group, 0o2750)
    assert _run("systemctl", "start", "rkt-gc.service").returncode == 0
    assert "Result=success" in _run("systemctl", "show", "rkt-gc.service", "-p", "Result").stdout
