"""pre-start and post-stop event handlers run by the default stage1, as root: the pod dir is
built by hand as in test_stage1_run; the handlers write into the app's root (/log), which is
a plain directory on the host here, so the order of events can be read after the pod has exited.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from appc.schema.image import ImageManifest
from rkt.linux.mount import MNT_DETACH, umount2
from rkt.stage1.executor.gc import mounts_under
from tests.integration.test_stage1_run import TIMEOUT, Pod

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and mounts need root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]

#: /tmp is a tmpfs of the pod's; /log, made by the test, is a directory of the host's.
#: Each event appends its name, uid and working directory to /log/order in the app's root.
LOG = 'echo "$0 $(id -u) $(pwd) $MARK" >> /log/order'


def _sh(event: str, extra: str = "") -> list[str]:
    # $0 names the event; "sh" is found along PATH inside the root, as the app's exec is.
    return ["sh", "-c", LOG + extra, event]


class EventPod(Pod):
    def add_app(self, name: str, exec_: list[str], user: str = "0", group: str = "0") -> None:
        super().add_app(name, exec_, user, group)
        log = self.app_root(name) / "log"
        log.mkdir()
        log.chmod(0o1777)

    def add_handlers(
        self,
        name: str,
        *,
        pre_start: list[str] | None = None,
        post_stop: list[str] | None = None,
        environment: dict[str, str] | None = None,
        working_directory: str = "",
    ) -> None:
        path = self.dir / "appsinfo" / name / "manifest"
        doc = json.loads(path.read_bytes())
        handlers = []
        if pre_start is not None:
            handlers.append({"name": "pre-start", "exec": pre_start})
        if post_stop is not None:
            handlers.append({"name": "post-stop", "exec": post_stop})
        doc["app"]["eventHandlers"] = handlers
        if environment:
            doc["app"]["environment"] = [{"name": k, "value": v} for k, v in environment.items()]
        if working_directory:
            doc["app"]["workingDirectory"] = working_directory
        path.write_bytes(ImageManifest.from_json(json.dumps(doc).encode()).to_json())

    def order(self, name: str) -> list[str]:
        path = self.app_root(name) / "log/order"
        return path.read_text().splitlines() if path.exists() else []


@pytest.fixture
def pod(tmp_path: Path) -> Iterator[EventPod]:
    pod = EventPod(tmp_path)
    (pod.dir / "stage1").mkdir(parents=True)
    try:
        yield pod
    finally:
        leaked = sorted(set(mounts_under(str(tmp_path))) - set(pod.binds))
        for target in mounts_under(str(tmp_path)):
            with contextlib.suppress(OSError):
                umount2(target, MNT_DETACH)
        assert leaked == []


def test_pre_start_app_post_stop_in_order(pod: EventPod) -> None:
    pod.add_app("web", _sh("app", "; cat /log/order"), user="app", group="app")
    pod.add_handlers(
        "web",
        pre_start=_sh("pre"),
        post_stop=_sh("post"),
        environment={"MARK": "m"},
        working_directory="/tmp",
    )
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 0, result.stderr
    # Same identity, working directory and environment for the handlers as for the app.
    assert pod.order("web") == ["pre 1000 /tmp m", "app 1000 /tmp m", "post 1000 /tmp m"]
    assert result.stdout.splitlines() == ["pre 1000 /tmp m", "app 1000 /tmp m"]
    assert pod.status("web") == "0\n"


def test_failing_pre_start_keeps_the_app_from_starting(pod: EventPod) -> None:
    pod.add_app("web", _sh("app"))
    pod.add_handlers("web", pre_start=_sh("pre", "; exit 5"), post_stop=_sh("post"))
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 5, result.stderr
    assert pod.status("web") == "5\n"
    # The app never ran; post-stop runs as systemd's ExecStopPost does after a failed start.
    assert [line.split()[0] for line in pod.order("web")] == ["pre", "post"]


def test_failing_pre_start_in_a_two_app_pod(pod: EventPod) -> None:
    pod.add_app("ok", _sh("app"))
    pod.add_app("bad", _sh("app"))
    pod.add_handlers("bad", pre_start=["false"])
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 1, result.stderr
    assert pod.status("bad") == "1\n"
    assert pod.status("ok") == "0\n"
    assert pod.order("bad") == []
    assert [line.split()[0] for line in pod.order("ok")] == ["app"]


def test_post_stop_runs_after_sigterm(pod: EventPod) -> None:
    pod.add_app("sleeper", ["/bin/sleep", "1000"])
    pod.add_handlers("sleeper", pre_start=_sh("pre"), post_stop=_sh("post"))
    pod.write_manifest()
    proc, lock = pod.start()
    try:
        ready = pod.dir / "stage1/rootfs/rkt/supervisor-status"
        deadline = time.monotonic() + TIMEOUT
        while not ready.is_symlink() and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        assert [line.split()[0] for line in pod.order("sleeper")] == ["pre"]
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        os.close(lock)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert pod.status("sleeper") == f"{128 + signal.SIGTERM}\n"
    assert [line.split()[0] for line in pod.order("sleeper")] == ["pre", "post"]


def test_sigterm_during_a_long_pre_start(pod: EventPod) -> None:
    pod.add_app("web", _sh("app"))
    pod.add_handlers("web", pre_start=_sh("pre", "; sleep 1000"), post_stop=_sh("post"))
    pod.write_manifest()
    proc, lock = pod.start()
    try:
        deadline = time.monotonic() + TIMEOUT
        while not pod.order("web") and time.monotonic() < deadline:
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=TIMEOUT)
    finally:
        os.close(lock)
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signal.SIGTERM, err
    assert [line.split()[0] for line in pod.order("web")] == ["pre", "post"]


def test_post_stop_failure_keeps_the_app_status(pod: EventPod) -> None:
    pod.add_app("web", ["/bin/sh", "-c", "exit 3"])
    pod.add_handlers("web", post_stop=["sh", "-c", "exit 9"])
    pod.write_manifest()
    result = pod.run()
    assert result.returncode == 3, result.stderr
    assert pod.status("web") == "3\n"
    assert 'app "web": post-stop handler exited 9' in result.stderr


def test_post_stop_is_bounded_by_a_timeout(pod: EventPod) -> None:
    pod.add_app("web", ["/bin/true"])
    pod.add_handlers("web", post_stop=_sh("post", "; sleep 1000"))
    pod.write_manifest()
    started = time.monotonic()
    result = pod.run()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < TIMEOUT
    assert 'app "web": post-stop handler timed out' in result.stderr
    assert pod.status("web") == "0\n"
