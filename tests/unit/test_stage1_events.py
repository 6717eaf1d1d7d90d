"""Event handlers in the plan: pre-start and post-stop resolved like the app's exec."""

from __future__ import annotations

from pathlib import Path

import pytest

from rkt.stage1.planner.plan import PlanError
from tests.unit.test_stage1_support import make_rootfs, plan


def _handlers(**handlers: list[str]) -> list[dict[str, object]]:
    return [{"name": name.replace("_", "-"), "exec": argv} for name, argv in handlers.items()]


def _root(tmp_path: Path) -> Path:
    return make_rootfs(tmp_path)


def test_no_handlers(tmp_path: Path) -> None:
    app = plan(_root(tmp_path)).app("web")
    assert (app.pre_start, app.post_stop) == ((), ())


def test_handlers_resolved_along_path(tmp_path: Path) -> None:
    root = _root(tmp_path)
    handlers = _handlers(pre_start=["tool", "--pre"], post_stop=["/bin/app", "post"])
    app = plan(root, app={"eventHandlers": handlers}).app("web")
    assert app.pre_start == ("/usr/bin/tool", "--pre")
    assert app.post_stop == ("/bin/app", "post")
    assert app.exec == ("/bin/app",)


def test_handler_relative_to_working_directory_and_image_path(tmp_path: Path) -> None:
    root = _root(tmp_path)
    handlers = _handlers(post_stop=["bin/tool"], pre_start=["tool"])
    app = plan(
        root,
        app={
            "eventHandlers": handlers,
            "workingDirectory": "/usr",
            "environment": [{"name": "PATH", "value": "/usr/bin"}],
        },
    ).app("web")
    assert app.post_stop == ("/usr/bin/tool",)
    assert app.pre_start == ("/usr/bin/tool",)


def test_only_one_handler(tmp_path: Path) -> None:
    root = _root(tmp_path)
    app = plan(root, app={"eventHandlers": _handlers(post_stop=["app"])}).app("web")
    assert (app.pre_start, app.post_stop) == ((), ("/bin/app",))


def test_dotdot_is_refused_as_in_exec(tmp_path: Path) -> None:
    root = _root(tmp_path)
    handlers = _handlers(post_stop=["../bin/app"])
    with pytest.raises(PlanError, match=r'"post-stop" event handler: .* contains "\.\."'):
        plan(root, app={"eventHandlers": handlers, "workingDirectory": "/usr"})


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["/bin/missing"], '"pre-start" event handler: executable "/bin/missing" does not exist'),
        (["data"], '"pre-start" event handler: executable "data" was not found'),
        (["/bin/data"], "not executable"),
        ([""], 'the "pre-start" event handler has no exec'),
    ],
)
def test_bad_handler_is_a_plan_error(tmp_path: Path, argv: list[str], message: str) -> None:
    root = _root(tmp_path)
    with pytest.raises(PlanError, match=message) as info:
        plan(root, app={"eventHandlers": _handlers(pre_start=argv)})
    assert info.value.message.startswith('app "web": ')


def test_handler_without_exec(tmp_path: Path) -> None:
    root = _root(tmp_path)
    with pytest.raises(PlanError, match='the "post-stop" event handler has no exec'):
        plan(root, app={"eventHandlers": [{"name": "post-stop"}]})


def test_handler_escaping_the_root_is_refused(tmp_path: Path) -> None:
    root = _root(tmp_path)
    (root / "bin/out").symlink_to("../../../../../bin/sh")
    with pytest.raises(PlanError, match="post-stop"):
        plan(root, app={"eventHandlers": _handlers(post_stop=["/bin/out"])})


def test_runtime_app_handlers_win(tmp_path: Path) -> None:
    # stage0 writes the whole app into the pod manifest; its handlers are the ones planned.
    root = _root(tmp_path)
    runtime_app = {
        "exec": ["/bin/app"],
        "user": "0",
        "group": "0",
        "eventHandlers": _handlers(pre_start=["tool"]),
    }
    app = plan(
        root,
        app={"eventHandlers": _handlers(pre_start=["app"])},
        runtime={"app": runtime_app},
    ).app("web")
    assert app.pre_start == ("/usr/bin/tool",)
