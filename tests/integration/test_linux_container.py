"""A mini container from ``rkt.linux`` parts, as root: new mount/uts/ipc/pid namespaces, a
busybox rootfs bound and pivoted into, /proc mounted, capabilities reduced, no_new_privs set;
the app (busybox sh, PID 1 of its namespace) reports what it sees.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import traceback
from collections.abc import Iterator
from pathlib import Path

import pytest

from rkt.linux import capability, namespace
from rkt.linux.kernel import RealKernel
from rkt.linux.mount import MNT_DETACH, Bind, Proc, make_rprivate

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and mounts need root"),
    pytest.mark.skipif(not os.path.exists("/bin/busybox"), reason="needs busybox-static"),
]

KEEP = (capability.NUMBERS["CAP_CHOWN"], capability.NUMBERS["CAP_KILL"])
SCRIPT = "echo pid=$$; echo host=$(cat /proc/sys/kernel/hostname); cat /proc/self/status"


@pytest.fixture
def rootfs() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rkt-linux-rootfs-"))
    try:
        (path / "bin").mkdir()
        (path / "proc").mkdir()
        shutil.copy2("/bin/busybox", path / "bin" / "busybox")
        for applet in ("sh", "true", "cat", "echo"):
            (path / "bin" / applet).symlink_to("busybox")
        yield path
    finally:
        shutil.rmtree(path)


def pod_init(root: str, write: int) -> None:
    """PID 1 of the new pid namespace: set up the root and exec the app; never returns."""
    kernel = RealKernel()
    Bind(root, "/").apply(kernel, root)
    Proc().apply(kernel, root)
    kernel.sethostname("minipod")
    # pivot_root(".", ".") stacks the old root under the new one; detaching it leaves only the
    # new root (man 2 pivot_root, "new_root and put_old may be the same directory").
    kernel.chdir(root)
    kernel.pivot_root(".", ".")
    kernel.umount2(".", MNT_DETACH)
    kernel.chdir("/")
    capability.reduce_to(KEEP)
    kernel.set_no_new_privs()
    os.dup2(write, 1)
    os.dup2(write, 2)
    os.execv("/bin/busybox", ["sh", "-c", SCRIPT])


def stage1(root: str, write: int) -> None:
    """The first child: new namespaces, then fork the pod's PID 1 and pass its status on."""
    flags = namespace.CLONE_NEWNS | namespace.CLONE_NEWUTS | namespace.CLONE_NEWIPC
    namespace.unshare(flags | namespace.CLONE_NEWPID)
    make_rprivate()
    pid = os.fork()
    if pid == 0:
        try:
            pod_init(root, write)
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(120)
    _, status = os.waitpid(pid, 0)
    os._exit(os.waitstatus_to_exitcode(status))


def test_mini_container(rootfs: Path) -> None:
    before = Path("/proc/self/mountinfo").read_text()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            stage1(str(rootfs), write)
        except BaseException:
            os.write(write, traceback.format_exc().encode())
        finally:
            os._exit(121)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        output = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, output

    lines = dict(line.split(":", 1) for line in output.splitlines() if ":" in line)
    fields = {key: value.strip() for key, value in lines.items()}
    assert "pid=1" in output.splitlines()
    assert "host=minipod" in output.splitlines()
    mask = f"{capability.mask(KEEP):016x}"
    assert (fields["CapBnd"], fields["CapEff"], fields["CapPrm"]) == (mask, mask, mask)
    assert fields["NoNewPrivs"] == "1"
    assert Path("/proc/self/mountinfo").read_text() == before
