"""os/unix/sysctl at plan time: only namespaced sysctls of the pod's own namespaces."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from appc.schema.pod import PodManifest
from rkt.stage1.executor.setup import ExecutorError, apply_sysctls
from rkt.stage1.planner import sysctl
from rkt.stage1.planner.plan import AppInput, PlanError, PodInput, PodOptions
from rkt.stage1.planner.pod import plan_pod
from tests.unit.test_stage1_support import IMAGE_ID, image, make_rootfs, plan

ALL = ("mount", "uts", "ipc", "pid", "net")


def _sysctl(**values: str) -> dict[str, Any]:
    return {"isolators": [{"name": "os/unix/sysctl", "value": values}]}


@pytest.mark.parametrize(
    ("key", "space"),
    [
        ("net.ipv4.ip_forward", "net"),
        ("net.core.somaxconn", "net"),
        ("kernel.shmmax", "ipc"),
        ("kernel.shm_rmid_forced", "ipc"),
        ("kernel.msgmnb", "ipc"),
        ("kernel.sem", "ipc"),
        ("fs.mqueue.msg_max", "ipc"),
        ("kernel.domainname", "uts"),
        ("vm.swappiness", None),
        ("kernel.panic", None),
        ("kernel.hostname", None),
        ("fs.file-max", None),
        ("kernel.shm_next_idx", None),
    ],
)
def test_namespace_of(key: str, space: str | None) -> None:
    assert sysctl.namespace_of(key) == space


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("vm.swappiness", "10", '"vm.swappiness" is not namespaced'),
        ("kernel.panic", "1", '"kernel.panic" is not namespaced'),
        ("kernel.hostname", "x", "conflicts with the pod's hostname"),
        ("net.ipv4.ip_forward", "1\n0", "is not valid"),
        ("net.ipv4.ip_forward", "1\0", "is not valid"),
        ("net.ipv4.ip_forward", "", "is not valid"),
        ("net.ipv4.ip_forward", "1" * 5000, "is not valid"),
        ("net/ipv4/ip_forward", "1", "is not a valid key"),
        ("net..ipv4", "1", "is not a valid key"),
        ("net.ipv4.../x", "1", "is not a valid key"),
        ("net", "1", "is not a valid key"),
    ],
)
def test_check_refuses(key: str, value: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        sysctl.check(key, value, ALL)


def test_check_needs_the_namespace() -> None:
    sysctl.check("net.ipv4.ip_forward", "1", ALL)
    with pytest.raises(PlanError, match="own net namespace") as err:
        sysctl.check("net.ipv4.ip_forward", "1", ("mount", "uts", "ipc", "pid"))
    assert "--net=host" in err.value.hint
    with pytest.raises(PlanError, match="own ipc namespace"):
        sysctl.check("kernel.shmmax", "1", ("mount", "net"))


def test_proc_path() -> None:
    assert sysctl.proc_path("net.ipv4.ip_forward") == "net/ipv4/ip_forward"


def test_plan_collects_the_apps_sysctls(tmp_path: Path) -> None:
    pod = plan(
        make_rootfs(tmp_path), app=_sysctl(**{"kernel.shmmax": "123", "net.ipv4.ip_forward": "1"})
    )
    assert pod.sysctls == (("kernel.shmmax", "123"), ("net.ipv4.ip_forward", "1"))
    assert plan(make_rootfs(tmp_path, "plain")).sysctls == ()


def test_plan_refuses_a_host_sysctl_naming_the_key(tmp_path: Path) -> None:
    with pytest.raises(
        PlanError, match=re.escape('app "web": sysctl "vm.swappiness" is not namespaced')
    ):
        plan(make_rootfs(tmp_path), app=_sysctl(**{"vm.swappiness": "10"}))


def test_plan_refuses_net_sysctls_with_host_network(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = _sysctl(**{"net.ipv4.ip_forward": "1"})
    with pytest.raises(PlanError, match="own net namespace"):
        plan(root, app=app, host_network=True)
    # IPC sysctls stay allowed: the pod keeps its own IPC namespace.
    assert plan(root, app=_sysctl(**{"kernel.shmmax": "1"}), host_network=True).sysctls


def _pod(
    tmp_path: Path, pod_isolators: list[dict[str, Any]], apps: dict[str, dict[str, Any]]
) -> PodInput:
    doc: dict[str, Any] = {
        "acKind": "PodManifest",
        "acVersion": "0.8.11",
        "apps": [
            {"name": name, "image": {"id": IMAGE_ID, "name": "example.com/app"}} for name in apps
        ],
        "isolators": pod_isolators,
    }
    manifest = PodManifest.from_json(json.dumps(doc).encode())
    items = tuple(
        AppInput(runtime, image(**apps[runtime.name]), str(make_rootfs(tmp_path, runtime.name)))
        for runtime in manifest.apps
    )
    return PodInput(manifest, items, PodOptions(pod_dir="/p", hostname="h"))


def test_pod_and_app_sysctls_merge_and_conflicts_are_refused(tmp_path: Path) -> None:
    pod_level = [{"name": "os/unix/sysctl", "value": {"kernel.shmmni": "100"}}]
    same = _pod(
        tmp_path,
        pod_level,
        {"a": _sysctl(**{"kernel.shmmax": "5"}), "b": _sysctl(**{"kernel.shmmax": "5"})},
    )
    assert plan_pod(same).sysctls == (("kernel.shmmni", "100"), ("kernel.shmmax", "5"))
    differ = _pod(
        tmp_path / "2",
        [],
        {"a": _sysctl(**{"kernel.shmmax": "5"}), "b": _sysctl(**{"kernel.shmmax": "6"})},
    )
    with pytest.raises(
        PlanError, match=re.escape('"kernel.shmmax": app "a" sets "5", app "b" sets "6"')
    ):
        plan_pod(differ)
    host = _pod(
        tmp_path / "3", [{"name": "os/unix/sysctl", "value": {"kernel.panic": "1"}}], {"a": {}}
    )
    with pytest.raises(PlanError, match=re.escape('pod manifest: sysctl "kernel.panic"')):
        plan_pod(host)


def test_apply_sysctls_writes_the_files(tmp_path: Path) -> None:
    (tmp_path / "kernel").mkdir()
    (tmp_path / "kernel/shmmax").write_text("")
    apply_sysctls((("kernel.shmmax", "42"),), str(tmp_path))
    assert (tmp_path / "kernel/shmmax").read_text() == "42"
    with pytest.raises(ExecutorError, match=re.escape('sysctl "net.core.nope": cannot set "1"')):
        apply_sysctls((("net.core.nope", "1"),), str(tmp_path))
