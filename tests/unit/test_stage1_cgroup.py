"""Planning an app's cgroup limits and oom_score_adj from its isolators (ace.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from rkt.stage1.planner.plan import CgroupLimits, PlanError
from rkt.stage1.planner.pod import DEFAULT_POD_PIDS, PIDS_LIMIT
from tests.unit.test_stage1_support import make_rootfs, plan


def _isolators(**values: Any) -> dict[str, Any]:
    return {"isolators": [{"name": n, "value": v} for n, v in values.items()]}


def test_no_isolators_no_app_limits_and_a_pod_pids_default(tmp_path: Path) -> None:
    result = plan(make_rootfs(tmp_path))
    assert result.app("web").limits == CgroupLimits()
    assert result.app("web").oom_score_adj is None
    assert result.limits == CgroupLimits(pids=DEFAULT_POD_PIDS)


def test_resource_isolators_become_limits(tmp_path: Path) -> None:
    app = _isolators(
        **{
            "resource/memory": {"request": "16Mi", "limit": "32Mi"},
            "resource/cpu": {"limit": "200m"},
            "os/linux/cpu-shares": 512,
            "os/linux/oom-score-adj": 500,
            PIDS_LIMIT: {"max": 32},
        }
    )
    web = plan(make_rootfs(tmp_path), app=app).app("web")
    assert web.limits == CgroupLimits(
        memory=32 << 20, cpu_quota=20_000, cpu_period=100_000, cpu_shares=512, pids=32
    )
    assert web.oom_score_adj == 500


def test_block_isolators_become_limits_for_every_device(tmp_path: Path) -> None:
    app = _isolators(
        **{
            "resource/block-bandwidth": {"default": True, "limit": "2Mi"},
            "resource/block-iops": {"default": True, "limit": "300"},
        }
    )
    result = plan(make_rootfs(tmp_path), app=app)
    web = result.app("web")
    assert (web.limits.block_bps, web.limits.block_iops) == (2 << 20, 300)
    statuses = {s.name: s.status for s in web.isolators}
    assert statuses == {"resource/block-bandwidth": "enforced", "resource/block-iops": "enforced"}


def test_cpu_limit_in_cores_and_tiny(tmp_path: Path) -> None:
    web = plan(make_rootfs(tmp_path), app=_isolators(**{"resource/cpu": {"limit": "2"}})).app("web")
    assert web.limits.cpu_quota == 200_000
    tiny = plan(make_rootfs(tmp_path), app=_isolators(**{"resource/cpu": {"limit": "1m"}}))
    assert tiny.app("web").limits.cpu_quota == 1_000


def test_request_only_is_not_a_limit(tmp_path: Path) -> None:
    app = _isolators(**{"resource/memory": {"request": "1Gi"}})
    assert plan(make_rootfs(tmp_path), app=app).app("web").limits == CgroupLimits()


def test_pod_manifest_isolators_win(tmp_path: Path) -> None:
    image_app = _isolators(**{"resource/memory": {"limit": "32Mi"}})
    runtime = {
        "app": {
            "exec": ["/bin/app"],
            "user": "0",
            "group": "0",
            **_isolators(**{"resource/memory": {"limit": "64Mi"}}),
        }
    }
    web = plan(make_rootfs(tmp_path), app=image_app, runtime=runtime).app("web")
    assert web.limits.memory == 64 << 20


@pytest.mark.parametrize(
    "isolators",
    [
        {"resource/memory": {"limit": "1Ki"}},
        {PIDS_LIMIT: {"max": 0}},
        {PIDS_LIMIT: {"max": "many"}},
        {PIDS_LIMIT: 5},
    ],
)
def test_bad_limits_are_refused(tmp_path: Path, isolators: dict[str, Any]) -> None:
    with pytest.raises(PlanError):
        plan(make_rootfs(tmp_path), app=_isolators(**isolators))


def test_pod_pids_default_is_podmans_and_apps_or_the_pod_can_raise_it(tmp_path: Path) -> None:
    assert DEFAULT_POD_PIDS == 2048
    small = plan(make_rootfs(tmp_path), app=_isolators(**{PIDS_LIMIT: {"max": 32}}))
    assert small.limits.pids == DEFAULT_POD_PIDS
    big = plan(make_rootfs(tmp_path), app=_isolators(**{PIDS_LIMIT: {"max": 5000}}))
    assert big.limits.pids == 5000
