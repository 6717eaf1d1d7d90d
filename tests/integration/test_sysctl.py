"""os/unix/sysctl on real pods (``rkt run --net=none``, busybox ACIs), and the isolator report.

A namespaced sysctl is set inside the pod (IPC and network namespaces) while the host's value
stays as it was; a host-wide one is refused before the pod starts; ``stage1/isolators.json``
and ``rkt status`` say which isolators were enforced and which ignored (ace.md).
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

SHMMAX = "/proc/sys/kernel/shmmax"
PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


def _read(path: str) -> str:
    with open(path, encoding="ascii") as f:
        return f.read().strip()


def _run(
    data: Path, base: Path, tmp_path: Path, script: str, isolators: list[dict[str, Any]]
) -> tuple[Any, Path | None]:
    app = {"exec": ["/bin/sh", "-c", script], "isolators": isolators}
    aci = make_image(base, tmp_path, "sys", app)
    uuid_file = tmp_path / "uuid"
    done = run_pod(data, str(aci), f"--uuid-file-save={uuid_file}", timeout=60)
    uuid = uuid_file.read_text().strip() if uuid_file.exists() else ""
    found = list((data / "pods").glob(f"*/{uuid}")) if uuid else []
    return done, found[0] if found else None


def _sysctl(**values: str) -> dict[str, Any]:
    return {"name": "os/unix/sysctl", "value": values}


def test_ipc_sysctl_is_set_in_the_pod_only(data: Path, base: Path, tmp_path: Path) -> None:
    host = _read(SHMMAX)
    assert host != "123456789"
    done, _ = _run(
        data, base, tmp_path, f"cat {SHMMAX}", [_sysctl(**{"kernel.shmmax": "123456789"})]
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["123456789"]
    assert _read(SHMMAX) == host


def test_net_sysctl_is_set_in_the_pods_netns_only(data: Path, base: Path, tmp_path: Path) -> None:
    host = _read(PORT_START)
    value = "80" if host != "80" else "81"
    done, _ = _run(
        data,
        base,
        tmp_path,
        f"cat {PORT_START}",
        [_sysctl(**{"net.ipv4.ip_unprivileged_port_start": value})],
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [value]
    assert _read(PORT_START) == host


def test_host_sysctl_is_refused_before_the_pod_starts(
    data: Path, base: Path, tmp_path: Path
) -> None:
    host = _read("/proc/sys/vm/swappiness")
    done, pod_dir = _run(data, base, tmp_path, "echo started", [_sysctl(**{"vm.swappiness": "10"})])
    assert done.returncode == 254
    assert "vm.swappiness" in done.stderr and "not namespaced" in done.stderr
    assert "started" not in done.stdout
    assert _read("/proc/sys/vm/swappiness") == host
    if pod_dir is not None:
        assert not (pod_dir / "pid").exists()


def test_missing_net_sysctl_fails_the_pod(data: Path, base: Path, tmp_path: Path) -> None:
    # Not one of the netns's own sysctls: absent there, so the write fails and nothing starts.
    done, _ = _run(data, base, tmp_path, "echo started", [_sysctl(**{"net.core.no_such": "1"})])
    assert done.returncode == 254
    assert 'sysctl "net.core.no_such"' in done.stderr
    assert "started" not in done.stdout


def test_isolator_report_and_status(data: Path, base: Path, tmp_path: Path) -> None:
    isolators = [
        _sysctl(**{"kernel.shmmni": "100"}),
        {"name": "os/linux/cpu-shares", "value": 512},
        {"name": "example.com/unknown", "value": {"x": 1}},
    ]
    done, pod_dir = _run(data, base, tmp_path, "true", isolators)
    assert done.returncode == 0, done.stderr
    assert pod_dir is not None
    report = json.loads((pod_dir / "stage1/isolators.json").read_text())
    assert [(e["name"], e["status"]) for e in report["sys"]] == [
        ("os/unix/sysctl", "enforced"),
        ("os/linux/cpu-shares", "enforced"),
        ("example.com/unknown", "ignored"),
    ]
    assert all(e["reason"] for e in report["sys"])
    unenforced = json.loads((pod_dir / "stage1/unenforced-isolators.json").read_text())
    assert unenforced == {"sys": ["example.com/unknown"]}
    status = rkt(data, "status", pod_dir.name)
    assert status.returncode == 0, status.stderr
    line = (
        "app-sys-isolators=enforced:os/unix/sysctl,os/linux/cpu-shares;ignored:example.com/unknown"
    )
    assert line in status.stdout.splitlines()
    as_json = rkt(data, "status", "--format=json", pod_dir.name)
    assert as_json.returncode == 0 and "isolators=" not in as_json.stdout
