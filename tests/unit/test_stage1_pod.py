"""The whole pod's plan: namespaces, hostname, several apps, purity."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from appc.schema.image import ImageManifest
from rkt.stage1.planner.plan import AppInput, PlanError, PodInput, PodOptions
from rkt.stage1.planner.pod import plan_pod
from tests.unit.test_stage1_support import image, make_rootfs, plan, pod_manifest


def test_namespaces_and_hostname(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    pod = plan(root)
    assert pod.namespaces == ("mount", "uts", "ipc", "pid", "net")
    assert pod.hostname == "pod1"
    assert plan(root, host_network=True).namespaces == ("mount", "uts", "ipc", "pid")
    assert plan(root, hostname="").hostname == "rkt-1234"
    with pytest.raises(PlanError, match="hostname"):
        plan(root, hostname="bad host")


def test_two_apps_share_a_volume(tmp_path: Path) -> None:
    a, b = make_rootfs(tmp_path, "a"), make_rootfs(tmp_path, "b")
    manifest = pod_manifest(
        [{"name": "one"}, {"name": "two"}],
        volumes=[{"name": "shared", "kind": "empty"}],
    )
    img = image(mountPoints=[{"name": "shared", "path": "/shared"}])
    apps = (
        AppInput(manifest.apps[0], img, str(a)),
        AppInput(manifest.apps[1], img, str(b)),
    )
    pod = plan_pod(PodInput(manifest, apps, PodOptions(pod_dir="/p", hostname="h")))
    assert [app.name for app in pod.apps] == ["one", "two"]
    assert [v.path for v in pod.volumes] == ["/p/volumes/shared"]
    assert pod.app("one").root == str(a) and pod.app("two").root == str(b)
    assert "bind /p/volumes/shared -> /shared [nodev]" in pod.app("two").describe_mounts()
    with pytest.raises(KeyError):
        pod.app("three")


def test_apps_must_match_the_manifest(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    manifest = pod_manifest([{"name": "one"}, {"name": "two"}])
    apps = (AppInput(manifest.apps[0], image(), str(root)),)
    with pytest.raises(PlanError, match="differ from the pod manifest"):
        plan_pod(PodInput(manifest, apps, PodOptions(pod_dir="/p", hostname="h")))


def test_image_without_app(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    manifest = pod_manifest([{"name": "one"}])
    bare = ImageManifest.from_json(
        json.dumps({"acKind": "ImageManifest", "acVersion": "0.8.11", "name": "x/y"})
    )
    apps = (AppInput(manifest.apps[0], bare, str(root)),)
    with pytest.raises(PlanError, match='app "one": image "x/y" has no app'):
        plan_pod(PodInput(manifest, apps, PodOptions(pod_dir="/p", hostname="h")))


def test_plan_fields(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    app = plan(root, app={"user": "web", "group": "webgrp", "supplementaryGIDs": [10, 20]}).app(
        "web"
    )
    assert (app.uid, app.gid, app.supplementary_gids) == (1000, 1001, (10, 20))
    assert app.exec == ("/bin/app",)
    assert app.working_directory == "/"
    assert app.image_name == "example.com/app"


def test_plan_is_frozen_and_deterministic(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    first, second = plan(root), plan(root)
    assert first == second
    with pytest.raises(AttributeError):
        first.apps[0].uid = 5  # type: ignore[misc]


def test_planning_imports_no_kernel_store_fetch_or_cli() -> None:
    # Of rkt.pod, only the names of the pod directory's files (rkt.pod.layout).
    probe = (
        "import sys, rkt.stage1, rkt.stage1.planner.pod;"
        "bad=[m for m in sys.modules if m.split('.')[:2] in "
        "(['rkt','linux'],['rkt','store'],['rkt','fetch'],['rkt','cli'],['rkt','pod'])"
        " and m not in ('rkt.pod', 'rkt.pod.layout', 'rkt.pod.state')];"
        "print(bad)"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
