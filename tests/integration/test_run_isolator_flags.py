"""rkt run's per-app isolator flags (--caps-retain, --caps-remove, --memory, --oom-score-adj,
--seccomp) and ``--insecure-options=capabilities``, observed from inside real pods."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import make_image, rkt, run_pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="pods need root"),
    pytest.mark.skipif(not os.path.exists(podkit.BUSYBOX), reason="needs busybox-static"),
]

CAP_NET_BIND_SERVICE = 1 << 10


@pytest.fixture(scope="module")
def base_applets() -> tuple[str, ...]:
    return ("head", "tr", "chown", "mkdir")  # the memory hog, the capability and seccomp checks


def image(base: Path, tmp_path: Path, script: str) -> str:
    return str(make_image(base, tmp_path, "flags", {"exec": ["/bin/sh", "-c", script]}))


def caps(stdout: str) -> dict[str, int]:
    found = {}
    for line in stdout.splitlines():
        key, _, value = line.partition(":")
        if key.startswith("Cap"):
            found[key] = int(value.strip(), 16)
    return found


CAPS = "grep ^Cap /proc/self/status"


def test_caps_retain_leaves_only_that_capability(base: Path, tmp_path: Path, data: Path) -> None:
    done = run_pod(data, image(base, tmp_path, CAPS), "--caps-retain=CAP_NET_BIND_SERVICE")
    assert done.returncode == 0, (done.stdout, done.stderr)
    found = caps(done.stdout)
    assert found["CapBnd"] == found["CapEff"] == found["CapPrm"] == CAP_NET_BIND_SERVICE
    assert found["CapAmb"] == 0


def test_caps_remove_takes_chown_away(base: Path, tmp_path: Path, data: Path) -> None:
    script = "touch /tmp/f; chown 1000 /tmp/f; echo status=$?"
    aci = image(base, tmp_path, script)
    done = run_pod(data, aci, "--caps-remove=CAP_CHOWN")
    assert "status=1" in done.stdout, (done.stdout, done.stderr)
    assert "Operation not permitted" in done.stderr + done.stdout
    # Without the flag the same image may chown (CAP_CHOWN is in rkt's default set).
    again = run_pod(data, aci)
    assert "status=0" in again.stdout, (again.stdout, again.stderr)


def test_memory_flag_oom_kills_and_is_reported(base: Path, tmp_path: Path, data: Path) -> None:
    if not os.path.isdir("/sys/fs/cgroup"):
        pytest.skip("needs cgroups")
    script = 'x=$(head -c 200000000 /dev/zero | tr "\\0" a); echo survived'
    uuid_file = tmp_path / "uuid"
    done = run_pod(
        data,
        image(base, tmp_path, script),
        "--memory=32M",
        f"--uuid-file-save={uuid_file}",
        timeout=90,
    )
    assert "survived" not in done.stdout
    assert done.returncode == 137, (done.returncode, done.stderr)
    status = rkt(data, "status", uuid_file.read_text().strip())
    assert "app-flags=137" in status.stdout and "app-flags-oom=true" in status.stdout


def test_oom_score_adj_flag_is_seen(base: Path, tmp_path: Path, data: Path) -> None:
    done = run_pod(
        data, image(base, tmp_path, "cat /proc/self/oom_score_adj"), "--oom-score-adj=300"
    )
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert done.stdout.split() == ["300"]


def test_seccomp_flag_fails_mkdir_with_eperm(base: Path, tmp_path: Path, data: Path) -> None:
    script = "mkdir /tmp/x && echo made; echo status=$?"
    done = run_pod(data, image(base, tmp_path, script), "--seccomp=mode=remove,errno=EPERM,mkdir")
    assert done.returncode == 0, (done.stdout, done.stderr)
    assert "made" not in done.stdout and "status=1" in done.stdout
    assert "Operation not permitted" in done.stderr + done.stdout


def test_caps_retain_and_remove_together_fail(base: Path, tmp_path: Path, data: Path) -> None:
    done = run_pod(
        data,
        image(base, tmp_path, "true"),
        "--caps-retain=CAP_CHOWN",
        "--caps-remove=CAP_KILL",
    )
    assert done.returncode == 254
    assert "cannot use both --caps-retain and --caps-remove" in done.stderr


def test_bad_flag_value_fails_naming_the_flag(base: Path, tmp_path: Path, data: Path) -> None:
    done = run_pod(data, image(base, tmp_path, "true"), "--cpu-shares=1")
    assert done.returncode == 254
    assert '--cpu-shares "1"' in done.stderr


def _host_bounding() -> int:
    return caps(Path("/proc/self/status").read_text())["CapBnd"]


def test_insecure_capabilities_give_the_runtime_bounding_set(
    base: Path, tmp_path: Path, data: Path
) -> None:
    prepared = rkt(
        data,
        "--insecure-options=image,capabilities",
        "prepare",
        image(base, tmp_path, CAPS),
        "--caps-retain=CAP_NET_BIND_SERVICE",
    )
    assert prepared.returncode == 0, prepared.stderr
    uuid = prepared.stdout.split()[-1]
    [options_file] = list((data / "pods").glob(f"*/{uuid}/stage1/options.json"))
    assert json.loads(options_file.read_text())["options"]["insecure_capabilities"] is True
    done = rkt(data, "run-prepared", uuid)
    assert done.returncode == 0, (done.stdout, done.stderr)
    found = caps(done.stdout)
    assert found["CapBnd"] == _host_bounding()
    assert found["CapEff"] == found["CapPrm"] == _host_bounding()
