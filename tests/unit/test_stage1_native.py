"""rkt-stage1's plan reader (native/plan.c) against the plans Python writes and against
malformed ones: every plan is either taken or refused with one line and exit 254, never a
crash, with the package build and with the sanitizer build (``check`` reads a plan and does
nothing else, so this runs as any user)."""

from __future__ import annotations

import contextlib
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rkt.stage1.executor import planfile
from tests import native
from tests.unit.test_stage1_support import make_rootfs, plan

pytestmark = pytest.mark.skipif(not native.program().exists(), reason="rkt-stage1 not built")


@pytest.fixture(scope="module")
def sanitized(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return native.compile_sanitized(tmp_path_factory.mktemp("asan") / "rkt-stage1")


def check(program: Path, role: str, data: bytes) -> subprocess.CompletedProcess[bytes]:
    read, write = os.pipe()
    try:
        with subprocess.Popen(
            [str(program), "check", role, str(read)],
            pass_fds=(read,),
            stderr=subprocess.PIPE,
            env={**os.environ, **native.SANITIZER_ENV},
        ) as proc:
            os.close(read)
            read = -1
            with contextlib.suppress(BrokenPipeError):  # refused before it read it all
                os.write(write, data)
            os.close(write)
            write = -1
            _, err = proc.communicate(timeout=30)
            return subprocess.CompletedProcess(proc.args, proc.returncode, b"", err)
    finally:
        for fd in (read, write):
            if fd >= 0:
                os.close(fd)


def valid_init_plan(tmp_path: Path) -> bytes:
    planned = plan(make_rootfs(tmp_path), app={"environment": [{"name": "A", "value": "1"}]})
    written = planfile.Plan("init").add("pivot", "/var/lib/rkt/pods/run/x/stage1/rootfs")
    written.add("rkt-dir", 5, "ready-link", "ready", "status-dir", 11, "oom-dir", 6)
    written.add("last-cap", 40)
    for app in planned.apps:
        planfile.add_app(written, app, mntns=7, filters=[b"\x06\x00\x00\x00\x00\x00\xff\x7f"],
                         cgroup_fds=[8, 9], oom_fd=10)  # fmt: skip
    return written.to_bytes()


def test_the_plans_python_writes_are_taken(tmp_path: Path, sanitized: Path) -> None:
    for program in (native.program(), sanitized):
        done = check(program, "init", valid_init_plan(tmp_path))
        assert done.returncode == 0, done.stderr
        monitor = planfile.Plan("monitor").add("pid1", 42).add_list("teardown", ["/bin/x", "-y"])
        assert check(program, "monitor", monitor.to_bytes()).returncode == 0


@pytest.mark.parametrize(
    ("data", "said"),
    [
        (b"", "malformed value"),
        (b"15:rkt-stage1-plan,1:2,4:init,", "not a version 1 plan"),
        (b"15:rkt-stage1-plan,1:1,4:init,3:uid,", "before any app"),
        (b"15:rkt-stage1-plan,1:1,4:init,3:app,1:a,3:uid,2:-1,", "not a number"),
        (b"15:rkt-stage1-plan,1:1,4:init,3:app,3:a\x00b,", "NUL byte"),
        (b"15:rkt-stage1-plan,1:1,4:init,99999:x,", "malformed value"),
        (b"15:rkt-stage1-plan,1:1,4:init,4:what,", "unknown key"),
        (b"15:rkt-stage1-plan,1:1,7:monitor,", 'needs "pid1"'),
        (b"15:rkt-stage1-plan,1:1,4:init,3:app,1:a,4:exec,10:4096000000,", "not a number"),
        (b"15:rkt-stage1-plan,1:1,4:init,10:ready-link,3:a/b,", '"ready-link" (a name)'),
    ],
)
def test_malformed_plans_are_one_line_and_254(data: bytes, said: str, sanitized: Path) -> None:
    role = "monitor" if b"monitor" in data else "init"
    for program in (native.program(), sanitized):
        done = check(program, role, data)
        assert done.returncode == 254, done.stderr
        lines = done.stderr.decode().splitlines()
        assert len(lines) == 1 and lines[0].startswith("stage1: plan") and said in lines[0], lines


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(cut=st.integers(0, 10_000), junk=st.binary(max_size=40), at=st.integers(0, 10_000))
def test_mangled_plans_never_crash(tmp_path: Path, sanitized: Path, cut: int, junk: bytes,
                                   at: int) -> None:  # fmt: skip
    data = valid_init_plan(tmp_path)
    at %= len(data) + 1
    mangled = (data[:at] + junk + data[at:])[: max(1, cut % (len(data) + len(junk) + 1))]
    done = check(sanitized, "init", mangled)
    assert done.returncode in (0, 254), (done.returncode, done.stderr)
    if done.returncode == 254:
        assert len(done.stderr.decode(errors="replace").splitlines()) == 1, done.stderr


@settings(
    max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_random_bytes_are_refused(sanitized: Path, data: bytes) -> None:
    done = check(sanitized, "init", data)
    assert done.returncode == 254, (done.returncode, done.stderr)
