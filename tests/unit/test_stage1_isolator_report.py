"""Which isolators stage1 enforces and which it ignores (ace.md), computed by the plan."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from appc.schema.pod import PodManifest
from rkt.pod.info import isolator_summary
from rkt.stage1.planner import isolator_report
from rkt.stage1.planner.plan import AppInput, IsolatorStatus, PodInput, PodOptions
from rkt.stage1.planner.pod import PIDS_LIMIT, plan_pod
from tests.unit.test_stage1_support import IMAGE_ID, image, make_rootfs, plan


def _isolators(**values: Any) -> dict[str, Any]:
    return {"isolators": [{"name": n, "value": v} for n, v in values.items()]}


def _statuses(statuses: tuple[IsolatorStatus, ...]) -> dict[str, str]:
    return {s.name: s.status for s in statuses}


ENFORCED_APP = {
    "resource/memory": {"limit": "64Mi"},
    "resource/cpu": {"limit": "500m"},
    "os/linux/cpu-shares": 512,
    "os/linux/oom-score-adj": 100,
    "os/linux/capabilities-remove-set": {"set": ["CAP_NET_RAW"]},
    "os/linux/seccomp-remove-set": {"set": ["mkdir"]},
    "os/linux/no-new-privileges": True,
    "os/unix/sysctl": {"kernel.shmmax": "1"},
    "rkt.coreos.com/pids-limit": {"max": 100},
    "resource/block-bandwidth": {"default": True, "limit": "1G"},
    "resource/block-iops": {"default": True, "limit": "1000"},
}
IGNORED_APP = {
    "os/linux/selinux-context": {"user": "u", "role": "r", "type": "t", "level": "s0"},
    "resource/network-bandwidth": {"default": True, "limit": "1G"},
    "example.com/unknown": {"anything": 1},
}


def test_every_app_isolator_is_classified(tmp_path: Path) -> None:
    app = plan(make_rootfs(tmp_path), app=_isolators(**ENFORCED_APP, **IGNORED_APP)).app("web")
    statuses = _statuses(app.isolators)
    assert statuses == {
        **dict.fromkeys(ENFORCED_APP, "enforced"),
        **dict.fromkeys(IGNORED_APP, "ignored"),
    }
    assert [s.name for s in app.isolators] == [*ENFORCED_APP, *IGNORED_APP]
    reasons = {s.name: s.reason for s in app.isolators}
    assert reasons["example.com/unknown"] == "unknown isolator"
    assert "SELinux" in reasons["os/linux/selinux-context"]
    assert all(s.reason and s.scope == "app" for s in app.isolators)


def test_no_isolators_no_report(tmp_path: Path) -> None:
    assert plan(make_rootfs(tmp_path)).app("web").isolators == ()


def test_requests_only_and_insecure_options_are_ignored(tmp_path: Path) -> None:
    isolators = _isolators(
        **{
            "resource/memory": {"request": "64Mi"},
            "os/linux/seccomp-retain-set": {"set": ["@rkt/default-whitelist"]},
            "os/linux/capabilities-retain-set": {"set": ["CAP_CHOWN"]},
        }
    )
    app = plan(
        make_rootfs(tmp_path),
        app=isolators,
        insecure_seccomp=True,
        insecure_capabilities=True,
    ).app("web")
    assert set(_statuses(app.isolators).values()) == {"ignored"}
    reasons = [s.reason for s in app.isolators]
    assert "requests are not enforced" in reasons[0]
    assert reasons[1:] == ["--insecure-options=seccomp", "--insecure-options=capabilities"]


def test_pod_manifest_app_isolators_are_reported(tmp_path: Path) -> None:
    runtime = {
        "app": {
            "exec": ["/bin/app"],
            "user": "0",
            "group": "0",
            **_isolators(**{"example.com/other": 1}),
        }
    }
    app = plan(
        make_rootfs(tmp_path), app=_isolators(**{"os/linux/cpu-shares": 512}), runtime=runtime
    ).app("web")
    assert _statuses(app.isolators) == {"example.com/other": "ignored"}


def test_pod_isolators_are_reported_for_every_app(tmp_path: Path) -> None:
    doc: dict[str, Any] = {
        "acKind": "PodManifest",
        "acVersion": "0.8.11",
        "apps": [
            {"name": n, "image": {"id": IMAGE_ID, "name": "example.com/app"}} for n in ("a", "b")
        ],
        "isolators": [
            {"name": "os/unix/sysctl", "value": {"net.ipv4.ip_forward": "1"}},
            {"name": "resource/memory", "value": {"limit": "1Gi"}},
            {"name": "example.com/pod-thing", "value": {}},
        ],
    }
    manifest = PodManifest.from_json(json.dumps(doc).encode())
    items = tuple(
        AppInput(
            r,
            image(**_isolators(**{"os/linux/oom-score-adj": 5})),
            str(make_rootfs(tmp_path, r.name)),
        )
        for r in manifest.apps
    )
    pod = plan_pod(PodInput(manifest, items, PodOptions(pod_dir="/p", hostname="h")))
    for app in pod.apps:
        assert [(s.name, s.status, s.scope) for s in app.isolators] == [
            ("os/linux/oom-score-adj", "enforced", "app"),
            ("os/unix/sysctl", "enforced", "pod"),
            ("resource/memory", "ignored", "pod"),
            ("example.com/pod-thing", "ignored", "pod"),
        ]
    assert pod.sysctls == (("net.ipv4.ip_forward", "1"),)


def test_json_and_summary() -> None:
    statuses = (
        IsolatorStatus("os/unix/sysctl", "enforced", "r1"),
        IsolatorStatus("example.com/x", "ignored", "r2", scope="pod"),
        IsolatorStatus("os/linux/cpu-shares", "enforced", "r3"),
    )
    entries = isolator_report.to_json(statuses)
    assert entries[1] == {
        "name": "example.com/x",
        "status": "ignored",
        "reason": "r2",
        "scope": "pod",
    }
    assert (
        isolator_summary(entries)
        == "enforced:os/unix/sysctl,os/linux/cpu-shares;ignored:example.com/x"
    )
    assert isolator_summary([]) == "enforced:;ignored:"


@pytest.mark.parametrize("name", [isolator_report.PIDS_LIMIT])
def test_pids_limit_name_matches_the_plan(name: str) -> None:
    assert name == PIDS_LIMIT


def test_status_lines_from_the_report(tmp_path: Path) -> None:
    from types import SimpleNamespace

    from rkt.cli.pod_status import _isolator_lines

    pod: Any = SimpleNamespace(path=tmp_path)
    assert _isolator_lines(pod) == []
    (tmp_path / "stage1").mkdir()
    report = {
        "a": isolator_report.to_json(
            (
                IsolatorStatus("os/unix/sysctl", "enforced", "r"),
                IsolatorStatus("example.com/x", "ignored", "r"),
            )
        ),
        "b": [],
    }
    (tmp_path / isolator_report.REPORT).write_text(json.dumps(report))
    assert _isolator_lines(pod) == ["app-a-isolators=enforced:os/unix/sysctl;ignored:example.com/x"]
    (tmp_path / isolator_report.REPORT).write_text("not json")
    assert _isolator_lines(pod) == []
