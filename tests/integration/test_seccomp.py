"""Seccomp filters (ace.md os/linux/seccomp-retain-set and -remove-set, rkt's default whitelist
and ``--insecure-options=seccomp``), observed from inside real pods.

A blocked call fails with the errno asked for, or kills the app with SIGSYS (recorded as
128 + 31 = 159); without a seccomp isolator rkt's default (the retain set of Docker's default
whitelist, killing) applies; ``/proc/self/status`` tells whether a filter is installed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from tests.integration import podkit
from tests.integration.podkit import make_image, rkt, run_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

SIGSYS_STATUS = 128 + 31


def image(base: Path, tmp_path: Path, script: str, *isolators: dict[str, Any], **app: Any) -> str:
    manifest = {"exec": ["/bin/sh", "-c", script], "isolators": list(isolators), **app}
    return str(make_image(base, tmp_path, "seccomp", manifest))


def remove_set(*names: str, errno: str = "") -> dict[str, Any]:
    value: dict[str, Any] = {"set": list(names)}
    if errno:
        value["errno"] = errno
    return {"name": "os/linux/seccomp-remove-set", "value": value}


def retain_set(*names: str, errno: str = "") -> dict[str, Any]:
    value: dict[str, Any] = {"set": list(names)}
    if errno:
        value["errno"] = errno
    return {"name": "os/linux/seccomp-retain-set", "value": value}


def seccomp_mode(stdout: str) -> str:
    found = [
        line.split(":")[1].strip() for line in stdout.splitlines() if line.startswith("Seccomp:")
    ]
    assert found, stdout
    return found[0]


def test_remove_set_with_errno(base: Path, tmp_path: Path, data: Path) -> None:
    script = "echo ok; mkdir /tmp/x && echo made; echo status=$?"
    done = run_pod(data, image(base, tmp_path, script, remove_set("mkdir", errno="EPERM")))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "ok" in done.stdout.splitlines()
    assert "made" not in done.stdout
    assert "Operation not permitted" in done.stderr + done.stdout
    assert "status=1" in done.stdout


def test_remove_set_without_errno_kills_with_sigsys(base: Path, tmp_path: Path, data: Path) -> None:
    # The shell forks mkdir: the child dies of SIGSYS, the shell reports 159.
    script = "echo before; mkdir /tmp/x; echo status=$?"
    done = run_pod(data, image(base, tmp_path, script, remove_set("mkdir")))
    assert "before" in done.stdout, (done.stdout, done.stderr)
    assert f"status={SIGSYS_STATUS}" in done.stdout, (done.stdout, done.stderr)


def test_app_killed_by_sigsys_is_recorded_as_159(base: Path, tmp_path: Path, data: Path) -> None:
    done = run_pod(data, image(base, tmp_path, "exec mkdir /tmp/x", remove_set("mkdir")))
    assert done.returncode == SIGSYS_STATUS, (done.returncode, done.stdout, done.stderr)


def test_retain_set_errno(base: Path, tmp_path: Path, data: Path) -> None:
    # The default whitelist has no mount(2): it fails with the errno asked, the rest works.
    isolator = retain_set("@rkt/default-whitelist", errno="ENOTSUP")
    script = "echo ok; mount -t tmpfs none /mnt; echo status=$?"
    done = run_pod(data, image(base, tmp_path, script, isolator))
    assert "ok" in done.stdout.splitlines(), (done.stdout, done.stderr)
    assert "status=255" in done.stdout  # busybox mount's failure status
    assert "failed: Operation not supported" in done.stderr


def test_default_filter(base: Path, tmp_path: Path, data: Path) -> None:
    script = (
        "grep Seccomp: /proc/self/status; echo hello | cat; ls / >/dev/null && echo listed;"
        " mount -t tmpfs none /mnt; echo mount=$?"
    )
    done = run_pod(data, image(base, tmp_path, script))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert seccomp_mode(done.stdout) == "2"
    assert "hello" in done.stdout.splitlines()
    assert "listed" in done.stdout.splitlines()
    # mount(2) is not in the whitelist: the (forked) mount is killed with SIGSYS.
    assert f"mount={SIGSYS_STATUS}" in done.stdout


def test_default_filter_blocks_for_non_root_apps(base: Path, tmp_path: Path, data: Path) -> None:
    script = "grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status; id -u"
    done = run_pod(data, image(base, tmp_path, script, user="1000", group="1000"))
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert seccomp_mode(done.stdout) == "2"
    assert "1000" in done.stdout.splitlines()


def test_insecure_options_seccomp_disables_the_filter(
    base: Path, tmp_path: Path, data: Path
) -> None:
    aci = image(base, tmp_path, "grep Seccomp: /proc/self/status", remove_set("grep"))
    done = rkt(data, "--insecure-options=image,seccomp", "run", "--net=none", aci)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert seccomp_mode(done.stdout) == "0"


def test_retain_all_opts_out(base: Path, tmp_path: Path, data: Path) -> None:
    aci = image(base, tmp_path, "grep Seccomp: /proc/self/status", retain_set("@appc.io/all"))
    done = run_pod(data, aci)
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert seccomp_mode(done.stdout) == "0"


def test_filter_is_recorded_for_enter(base: Path, tmp_path: Path, data: Path) -> None:
    done = run_pod(data, image(base, tmp_path, "true", remove_set("mkdir", errno="EPERM")))
    assert done.returncode == 0, (done.stdout, done.stderr)
    [pod] = [p for p in (data / "pods").rglob("stage1") if (p / "seccomp").is_dir()]
    saved = json.loads((pod / "seccomp" / "seccomp.json").read_text())
    assert saved == {"mode": "remove", "syscalls": ["mkdir"], "errno": "EPERM", "namespaces": False}
    assert json.loads((pod / "unenforced-isolators.json").read_text()) == {}


def test_enter_installs_the_apps_filter(base: Path, tmp_path: Path, data: Path) -> None:
    import subprocess
    import time

    aci = image(base, tmp_path, "exec sleep 1000", remove_set("mkdir", errno="EPERM"))
    uuid_file = tmp_path / "uuid"
    proc = subprocess.Popen(
        [*podkit.RKT, f"--dir={data}", "--insecure-options=image", "run", "--net=none", aci,
         f"--uuid-file-save={uuid_file}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
    )  # fmt: skip
    try:
        script = "grep Seccomp: /proc/self/status; mkdir /tmp/x; echo status=$?"
        deadline = time.monotonic() + 30
        while True:
            uuid = uuid_file.read_text().strip() if uuid_file.exists() else ""
            done = rkt(data, "enter", uuid, "/bin/sh", "-c", script) if uuid else None
            if done is not None and done.returncode == 0:
                break
            assert proc.poll() is None, "rkt run exited early"
            assert time.monotonic() < deadline, done and done.stderr
            time.sleep(0.2)
        assert seccomp_mode(done.stdout) == "2"
        assert "status=1" in done.stdout
        assert "Operation not permitted" in done.stderr
    finally:
        os.killpg(proc.pid, 9)
        proc.wait(30)
