"""The VM lane: Rocket's tests on a systemd host with cgroup v2 only, in a real VM.

One boot of scripts/vm.sh (Debian 12, systemd as PID 1, ``cgroup_no_v1=all``; the image is
built once and cached) runs two pytest sessions in the guest:

- :data:`DELEGATED`, a subset of this repository's integration tests (pods, cgroups and
  isolation, devices, the lifecycle, a network), from a ``systemd-run -p Delegate=yes`` service: the
  pods take the delegated subtree, and the tests that read a pod's cgroup after it exited find
  it there until gc, as on a host without systemd;
- :data:`GUEST`, the tests of the systemd paths themselves (tests/vm/guest): pods started
  from a login shell, ``systemd-run`` (scope and service) and a ``Delegate=yes`` service,
  machined, ``Type=notify``, socket activation, the journal, dist/'s units.

Each test function of those files is one test here, passing when every one of its cases
passed in the guest. A VM that cannot be built or booted fails every test, with the reason:
the lane never skips. ``pytest --ignore=tests/vm`` leaves it out of a local run.
"""

from __future__ import annotations

import ast
import os
import shlex
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import pytest

pytestmark = [pytest.mark.vm]

ROOT = Path(__file__).resolve().parents[2]
#: The documented subset of the integration tests that runs in the VM (under TCG each costs
#: 20-40 s): every cgroup path (limits and their enforcement, the OOM report, gc of the
#: cgroups, the app's leaf, the v2 device program, devices in a pod), the lifecycle and a
#: network. The rest of the integration suite runs on the host only.
DELEGATED = (
    "tests/integration/test_cgroups.py::test_memory_hog_is_oom_killed_and_reported",
    "tests/integration/test_cgroups.py::test_cpu_hog_is_held_near_its_quota",
    "tests/integration/test_cgroups.py::test_pids_limit_holds_a_fork_loop",
    "tests/integration/test_cgroups.py::test_block_bandwidth_throttles_direct_reads",
    "tests/integration/test_cgroups.py::test_gc_removes_the_pod_cgroups",
    "tests/integration/test_cgroups.py::test_the_app_cannot_leave_its_cgroup",
    "tests/integration/test_linux_bpf.py",
    "tests/integration/test_pod_escapes.py::test_mknod_devices_cannot_be_used",
    "tests/integration/test_pod_lifecycle.py::test_run_list_status_gc",
    "tests/integration/test_pod_lifecycle.py::test_sigkill_while_running",
    "tests/integration/test_run_net.py::test_two_pods_on_a_user_network",
)
GUEST = ("tests/vm/guest/test_systemd_host.py",)
#: The whole boot: image build when not cached, boot, both sessions, power-off.
TIMEOUT = 1500


def _tests_of(path: str) -> list[str]:
    tree = ast.parse((ROOT / path).read_text())
    return [
        node.name
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")
    ]


def _job() -> str:
    pytest_words = ["/opt/rocket/bin/python", "-m", "pytest", "-p", "no:cacheprovider", "-q",
                    "-rfEs", "--durations=0"]  # fmt: skip
    delegated = [
        "systemd-run", "--wait", "--pipe", "--quiet", "-p", "Delegate=yes",
        "-p", "WorkingDirectory=/mnt/rocket", "-E", "RKT_IN_VM=1", "-E", "HOME=/root",
        "-E", "PYTHONDONTWRITEBYTECODE=1",
        *pytest_words, "--junitxml=/mnt/out/delegated.xml", *DELEGATED,
    ]  # fmt: skip
    guest = [*pytest_words, "--junitxml=/mnt/out/guest.xml", *GUEST]
    return (
        "status=0; "
        f"echo '== delegated'; {shlex.join(delegated)} || status=1; "
        f"echo '== guest'; {shlex.join(guest)} || status=1; "
        "exit $status"
    )


@dataclass
class Lane:
    status: int
    output: str
    #: "<module path>::<test name>" -> outcomes of its cases ("passed", "failed: ...")
    outcomes: dict[str, list[str]] = field(default_factory=dict)


def _outcomes(xml: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for case in ElementTree.parse(xml).getroot().iter("testcase"):
        module = case.get("classname", "").replace(".", "/") + ".py"
        name = case.get("name", "").split("[", 1)[0]
        outcome = "passed"
        for kind in ("failure", "error", "skipped"):
            element = case.find(kind)
            if element is not None:
                outcome = f"{kind}: {element.get('message', '')}"
        found.setdefault(f"{module}::{name}", []).append(outcome)
    return found


@pytest.fixture(scope="session")
def lane() -> Lane:
    with tempfile.TemporaryDirectory(prefix="rocket-vm-lane.", dir="/var/tmp") as out:
        env = dict(os.environ, ROCKET_VM_OUT=out)
        try:
            done = subprocess.run(
                ["bash", str(ROOT / "scripts/vm.sh"), "run", "--", "sh", "-c", _job()],
                cwd=ROOT, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                check=False,
            )  # fmt: skip
            result = Lane(done.returncode, done.stdout + done.stderr)
        except subprocess.TimeoutExpired as err:
            text = (err.stdout or b"").decode() + (err.stderr or b"").decode()  # type: ignore[union-attr]
            return Lane(124, f"the VM lane took more than {TIMEOUT} s\n{text}")
        sys.stderr.write(result.output[-4000:])
        for name in ("delegated.xml", "guest.xml"):
            if (Path(out) / name).exists():
                result.outcomes.update(_outcomes(Path(out) / name))
        return result


CASES = [
    case
    for selected in (*DELEGATED, *GUEST)
    for case in (
        [selected] if "::" in selected else [f"{selected}::{n}" for n in _tests_of(selected)]
    )
]


@pytest.mark.parametrize("case", CASES)
def test_in_the_vm(lane: Lane, case: str) -> None:
    outcomes = lane.outcomes.get(case)
    if outcomes is None:
        tail = "\n".join(lane.output.splitlines()[-60:])
        pytest.fail(f"{case} did not run in the VM (lane exit {lane.status}):\n{tail}")
    bad = [o for o in outcomes if o != "passed"]
    assert not bad, f"{case} in the VM: {bad}"
