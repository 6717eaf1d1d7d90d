"""The fly flavor without root: choosing it from the --stage1-* flags, recording and reading
it, and its plan (mounts, identity, one app only)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rkt.cli.flags import Namespace
from rkt.cli.main import parse
from rkt.cli.prepare import stage1_flavor
from rkt.errors import ConfigError
from rkt.stage0.options import RunOptions, stage1_options
from rkt.stage1.fly.plan import plan_fly
from rkt.stage1.interface import DEFAULT, FLY, FlavorError, entry_module, read_flavor
from rkt.stage1.planner.plan import AppInput, PlanError, PodInput, PodOptions
from tests.unit.test_stage1_support import image, make_rootfs, pod_manifest


def _args(*words: str, run: bool = True) -> Namespace:
    return parse(["run" if run else "prepare", *words, "img"])[1]


@pytest.mark.parametrize(
    "flag",
    [
        "--stage1-name=coreos.com/rkt/stage1-fly",
        "--stage1-name=coreos.com/rkt/stage1-fly:1.30.0",
        "--stage1-path=/usr/lib/rkt/stage1-images/stage1-fly.aci",
        "--stage1-url=https://example.com/rkt/v1.30.0/stage1-fly.aci?x=1",
        "--stage1-from-dir=stage1-fly.aci",
    ],
)
def test_fly_is_chosen_by_name_or_file_name(flag: str) -> None:
    args = _args(flag)
    assert stage1_flavor(args, 1, run=True) == FLY
    assert args.net == "host"  # rkt's fly stage1 ignored --net: the host's network


def test_other_stage1_flags_are_ignored_with_a_warning(capsys: pytest.CaptureFixture[str]) -> None:
    for flag in ("--stage1-name=coreos.com/rkt/stage1-coreos", "--stage1-hash=sha512-abc",
                 "--stage1-path=/x/stage1-fly.aci.bak"):  # fmt: skip
        assert stage1_flavor(_args(flag), 2, run=True) == ""
    assert capsys.readouterr().err.count("ignored") == 3
    assert stage1_flavor(_args(), 2, run=True) == ""


def test_fly_refusals(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError, match="exactly one app"):
        stage1_flavor(_args("--stage1-from-dir=stage1-fly.aci"), 2, run=True)
    with pytest.raises(ConfigError, match="mutually exclusive"):
        stage1_flavor(_args("--stage1-name=a", "--stage1-path=b"), 1, run=True)
    args = _args("--stage1-from-dir=stage1-fly.aci", "--net=none")
    assert stage1_flavor(args, 1, run=True) == FLY
    assert args.net == "host" and "--net=none ignored" in capsys.readouterr().err
    assert stage1_flavor(_args("--stage1-from-dir=stage1-fly.aci", run=False), 1, run=False)


def test_flavor_is_recorded_and_read_back(tmp_path: Path) -> None:
    assert read_flavor(tmp_path) == DEFAULT  # no options file: a pod from before flavors
    (tmp_path / "stage1").mkdir()
    options = tmp_path / "stage1/options.json"
    options.write_bytes(stage1_options(RunOptions(), "none").to_json())
    assert read_flavor(tmp_path) == DEFAULT and "stage1" not in json.loads(options.read_text())
    options.write_bytes(stage1_options(RunOptions(), "none", flavor=FLY).to_json())
    assert read_flavor(tmp_path) == FLY
    assert entry_module(FLY, "enter") == "rkt.stage1.fly.enter"
    assert entry_module(DEFAULT, "run") == "rkt.stage1.executor.run"
    options.write_text('{"version": 1, "stage1": "kvm"}')
    with pytest.raises(FlavorError, match="kvm"):
        read_flavor(tmp_path)


def _pod(root: Path, *apps: str, **app: object) -> PodInput:
    manifest = pod_manifest(
        [{"name": name, "mounts": [{"volume": "data", "path": "/data"}]} for name in apps],
        [{"name": "data", "kind": "host", "source": "/srv"}],
    )
    inputs = tuple(
        AppInput(ra, image(**app), str(root)) for ra in manifest.apps
    )  # fmt: skip
    return PodInput(manifest, inputs, PodOptions(pod_dir="/var/lib/rkt/pods/run/1", hostname=""))


def test_plan_binds_the_host_and_the_volumes(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    plan = plan_fly(
        _pod(root, "web", user="web", group="webgrp", workingDirectory="/home/web"), "h"
    )
    assert plan.describe_mounts() == [
        "bind /dev -> /dev [rbind]",
        "bind /proc -> /proc [rbind]",
        "bind /sys -> /sys [rbind]",
        "tmpfs tmpfs -> /tmp [mode=1777]",
        "bind /srv -> /data",  # rkt fly binds volumes non-recursively unless asked
    ]
    assert (plan.uid, plan.gid, plan.groups) == (1000, 1001, (1001,))
    assert plan.exec == ("/bin/app",) and plan.working_directory == "/home/web"
    assert plan.env()["AC_APP_NAME"] == "web"


def test_plan_refuses_several_apps(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    with pytest.raises(PlanError, match="exactly one app"):
        plan_fly(_pod(root, "a", "b"), "h")


def test_fly_refuses_private_users(capsys: pytest.CaptureFixture[str]) -> None:
    from rkt.cli.main import main

    code = main(
        ["run", "--dir=/nonexistent", "--stage1-name=coreos.com/rkt/stage1-fly",
         "--private-users", "example.com/app"]
    )  # fmt: skip
    assert code == 254
    assert "--private-users cannot be used with the fly stage1" in capsys.readouterr().err
