"""The app's final environment: rkt run's precedence and the defaults ace.md requires."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.stage1.planner.environment import DEFAULT_PATH, app_environment
from rkt.stage1.planner.plan import PlanError
from rkt.stage1.planner.user import PasswdEntry
from tests.unit.test_stage1_support import env, make_rootfs, plan

ENTRY = PasswdEntry("web", 1000, 1000, "/home/web", "/bin/bash")


# (image, --set-env-file, --set-env, --environment) -> the value of X
@pytest.mark.parametrize(
    ("layers", "expected"),
    [
        (("image", "", "", ""), "image"),
        (("image", "file", "", ""), "file"),
        (("image", "file", "set", ""), "set"),
        (("image", "file", "set", "app"), "app"),
        (("", "file", "", "app"), "app"),
        (("image", "", "set", ""), "set"),
        (("image", "file", "", "app"), "app"),
    ],
)
def test_precedence(layers: tuple[str, str, str, str], expected: str) -> None:
    image, env_file, set_env, app = (env(X=v) if v else () for v in layers)
    result = dict(app_environment("web", image, env_file, set_env, app, uid=0, entry=None))
    assert result["X"] == expected


def test_defaults_for_root_without_passwd() -> None:
    result = app_environment("web", (), (), (), (), uid=0, entry=None)
    assert result == (
        ("PATH", DEFAULT_PATH),
        ("HOME", "/"),
        ("USER", "0"),
        ("LOGNAME", "0"),
        ("SHELL", "/bin/sh"),
        ("container", "rkt"),
        ("AC_APP_NAME", "web"),
    )


def test_defaults_from_passwd_entry() -> None:
    result = dict(app_environment("web", (), (), (), (), uid=1000, entry=ENTRY))
    assert result["HOME"] == "/home/web"
    assert result["USER"] == result["LOGNAME"] == "web"
    assert result["SHELL"] == "/bin/bash"


def test_image_values_win_over_defaults_and_keep_order() -> None:
    image = env(B="1", PATH="/opt/bin", HOME="/data", A="2")
    result = app_environment("web", image, (), env(B="3"), (), uid=0, entry=ENTRY)
    assert result == (
        ("USER", "web"),
        ("LOGNAME", "web"),
        ("SHELL", "/bin/bash"),
        ("container", "rkt"),
        ("B", "3"),
        ("PATH", "/opt/bin"),
        ("HOME", "/data"),
        ("A", "2"),
        ("AC_APP_NAME", "web"),
    )


def test_ac_variables_are_forced() -> None:
    result = dict(
        app_environment(
            "web",
            env(AC_APP_NAME="spoof"),
            (),
            (),
            env(AC_METADATA_URL="x"),
            uid=0,
            entry=None,
            metadata_url="http://169.254.169.255/token",
        )
    )
    assert result["AC_APP_NAME"] == "web"
    assert result["AC_METADATA_URL"] == "http://169.254.169.255/token"


def test_invalid_name_from_flags_is_refused() -> None:
    with pytest.raises(PlanError, match="not a valid environment variable name"):
        app_environment("web", (), (), env(**{"1BAD": "x"}), (), uid=0, entry=None)


def test_plan_environment_end_to_end(tmp_path: Path) -> None:
    root = make_rootfs(tmp_path)
    result = plan(
        root,
        app={"user": "web", "group": "webgrp", "environment": [{"name": "X", "value": "img"}]},
        set_env_file=env(X="file", Y="file"),
        set_env=env(Y="set"),
        app_env=env(Z="app"),
    ).app("web")
    assert result.env() == {
        "PATH": DEFAULT_PATH,
        "HOME": "/home/web",
        "USER": "web",
        "LOGNAME": "web",
        "SHELL": "/bin/sh",
        "container": "rkt",
        "X": "file",
        "Y": "set",
        "Z": "app",
        "AC_APP_NAME": "web",
    }
