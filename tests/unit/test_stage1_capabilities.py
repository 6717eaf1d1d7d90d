"""Capability sets, seccomp and no_new_privs from isolators (ace.md "Linux Isolators")."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from appc.schema.linux import DEFAULT_CAPABILITIES
from rkt.stage1.planner.capabilities import DEFAULT_SECCOMP, KNOWN_CAPABILITIES
from rkt.stage1.planner.plan import PlanError, Seccomp
from tests.unit.test_stage1_support import make_rootfs, plan


def caps(name: str, *values: str) -> dict[str, Any]:
    return {"name": f"os/linux/capabilities-{name}-set", "value": {"set": list(values)}}


def test_default_is_ace_fourteen_for_root(tmp_path: Path) -> None:
    app = plan(make_rootfs(tmp_path)).app("web")
    assert set(app.capabilities.bounding) == set(DEFAULT_CAPABILITIES)
    assert len(app.capabilities.bounding) == 14
    assert app.capabilities.effective == app.capabilities.bounding
    assert app.capabilities.permitted == app.capabilities.bounding
    assert app.capabilities.inheritable == ()  # empty for every app: GHSA-f3fp-gc8g-vw66
    assert app.capabilities.ambient == ()
    # Sorted by capability number, so plans compare stably.
    order = [KNOWN_CAPABILITIES.index(c) for c in app.capabilities.bounding]
    assert order == sorted(order)


def test_non_root_keeps_only_the_bounding_set(tmp_path: Path) -> None:
    app = plan(make_rootfs(tmp_path), app={"user": "web", "group": "webgrp"}).app("web")
    assert len(app.capabilities.bounding) == 14
    assert app.capabilities.effective == app.capabilities.permitted == ()
    assert app.capabilities.inheritable == app.capabilities.ambient == ()


def test_retain_set(tmp_path: Path) -> None:
    isolators = [caps("retain", "CAP_NET_ADMIN", "CAP_CHOWN")]
    app = plan(make_rootfs(tmp_path), app={"isolators": isolators}).app("web")
    assert app.capabilities.bounding == ("CAP_CHOWN", "CAP_NET_ADMIN")


def test_remove_set(tmp_path: Path) -> None:
    isolators = [caps("remove", "CAP_NET_RAW", "CAP_MKNOD", "CAP_SYS_ADMIN")]
    app = plan(make_rootfs(tmp_path), app={"isolators": isolators}).app("web")
    expected = set(DEFAULT_CAPABILITIES) - {"CAP_NET_RAW", "CAP_MKNOD"}
    assert set(app.capabilities.bounding) == expected


def test_pod_manifest_app_overrides_image_isolators(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    override = {
        "exec": ["/bin/app"],
        "user": "0",
        "group": "0",
        "isolators": [caps("retain", "CAP_KILL")],
    }
    app = plan(
        root, app={"isolators": [caps("retain", "CAP_CHOWN")]}, runtime={"app": override}
    ).app("web")
    assert app.capabilities.bounding == ("CAP_KILL",)


def test_unknown_capability_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlanError, match='unknown capability "CAP_FLY"'):
        plan(make_rootfs(tmp_path), app={"isolators": [caps("retain", "CAP_FLY")]})


def test_seccomp_default_and_isolators(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    assert plan(root).app("web").seccomp == DEFAULT_SECCOMP
    assert plan(root, insecure_seccomp=True).app("web").seccomp is None
    isolator = {
        "name": "os/linux/seccomp-retain-set",
        "value": {"set": ["@rkt/default-whitelist", "mount"], "errno": "ENOTSUP"},
    }
    app = plan(root, app={"isolators": [isolator]}).app("web")
    assert app.seccomp == Seccomp("retain", ("@rkt/default-whitelist", "mount"), "ENOTSUP")


def test_no_new_privs(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    nnp = {"name": "os/linux/no-new-privileges", "value": True}
    assert plan(root).app("web").no_new_privs is False
    assert plan(root, app={"isolators": [nnp]}).app("web").no_new_privs is True
    # A non-root app can only install its seccomp filter with no_new_privs (seccomp(2)).
    web = {"user": "web", "group": "webgrp"}
    assert plan(root, app=web).app("web").no_new_privs is True
    assert plan(root, app=web, insecure_seccomp=True).app("web").no_new_privs is False
