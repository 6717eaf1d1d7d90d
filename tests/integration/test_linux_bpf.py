"""The v2 device policy (rkt.linux.bpf) on a real cgroup2 hierarchy: this host's (hybrid:
the controller-less cgroup2 mount runs device programs too) or the VM's."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from rkt.linux import bpf, cgroup

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root"),
]


def _cgroup2_mount() -> str:
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        for line in f:
            head, _, tail = line.partition(" - ")
            if tail.startswith("cgroup2 "):
                return head.split()[4]
    pytest.skip("no cgroup2 mount")


@pytest.fixture
def scratch() -> Iterator[Path]:
    directory = Path(_cgroup2_mount()) / f"rkt-test-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    yield directory
    directory.rmdir()


def _opens_in(directory: Path, paths: list[str]) -> list[str]:
    """What a child moved into ``directory`` gets opening each path: "ok" or the error."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.close(read)
        results = []
        try:
            (directory / "cgroup.procs").write_text("0")
            for path in paths:
                try:
                    os.close(os.open(path, os.O_RDONLY | os.O_CLOEXEC))
                    results.append("ok")
                except OSError as err:
                    results.append(err.strerror or "error")
        finally:
            os.write(write, "\n".join(results).encode())
            os._exit(0)
    os.close(write)
    with os.fdopen(read) as f:
        text = f.read()
    os.waitpid(pid, 0)
    return text.split("\n")


def test_the_pod_device_rules_allow_the_pods_devices_only(scratch: Path) -> None:
    bpf.attach_device_policy(str(scratch), cgroup.DEVICE_RULES)
    got = _opens_in(scratch, ["/dev/null", "/dev/urandom", "/dev/kmsg", "/dev/full"])
    assert got == ["ok", "ok", "Operation not permitted", "ok"]


def test_mknod_stays_allowed_and_opening_the_node_does_not(scratch: Path, tmp_path: Path) -> None:
    node = tmp_path / "kmsg"
    os.mknod(node, 0o600 | 0o020000, os.makedev(1, 11))
    bpf.attach_device_policy(str(scratch), ["c *:* m", "c 1:3 rw"])
    assert _opens_in(scratch, [str(node), "/dev/null", "/dev/zero"]) == [
        "Operation not permitted",
        "ok",
        "Operation not permitted",
    ]


def test_bad_rules_are_refused() -> None:
    with pytest.raises(ValueError, match="bad device rule"):
        bpf.device_program(["x 1:3 rwm"])
    with pytest.raises(ValueError):
        bpf.device_program(["c 1:3 rwz"])
