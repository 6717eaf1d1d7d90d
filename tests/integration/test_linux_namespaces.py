"""``rkt.linux`` against the real kernel, as root: namespaces, hostname, mount isolation, safe
mount targets. Each test runs its kernel calls in a forked child (namespaces act on the calling
thread, and threads do not mix with them) and asserts on what the child reports.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
import tempfile
import traceback
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from rkt.linux import mount, namespace
from rkt.linux.kernel import RealKernel
from rkt.linux.mount import MNT_DETACH, Bind, Tmpfs

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="namespaces and mounts need root"),
]


def run_forked(body: Callable[[], str]) -> str:
    """Run ``body`` in a forked child; return what it returned, or fail with its traceback."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 0
        try:
            os.close(read)
            out = body().encode()
        except BaseException:
            out = traceback.format_exc().encode()
            code = 1
        try:
            os.write(write, out)
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read, "rb") as f:
        text = f.read().decode()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0, f"child failed:\n{text}"
    return text


@pytest.fixture
def scratch() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="rkt-linux-"))
    try:
        yield path
    finally:
        shutil.rmtree(path)


def mountinfo() -> str:
    return Path("/proc/self/mountinfo").read_text()


def test_unshare_gives_new_namespaces() -> None:
    kinds = ("mnt", "uts", "ipc")
    host = {kind: namespace.namespace_id(kind) for kind in kinds}

    def body() -> str:
        namespace.unshare(namespace.CLONE_NEWNS | namespace.CLONE_NEWUTS | namespace.CLONE_NEWIPC)
        return " ".join(str(namespace.namespace_id(kind)) for kind in kinds)

    inside = [int(x) for x in run_forked(body).split()]
    assert all(inside[i] != host[kind] for i, kind in enumerate(kinds))
    assert {kind: namespace.namespace_id(kind) for kind in kinds} == host


def test_setns_back_into_the_host_uts_namespace() -> None:
    host = namespace.namespace_id("uts")

    def body() -> str:
        fd = namespace.open_namespace("uts")
        namespace.unshare(namespace.CLONE_NEWUTS)
        assert namespace.namespace_id("uts") != host
        namespace.setns(fd, namespace.CLONE_NEWUTS)
        os.close(fd)
        return str(namespace.namespace_id("uts"))

    assert int(run_forked(body)) == host


def test_sethostname_stays_in_the_uts_namespace() -> None:
    host = socket.gethostname()

    def body() -> str:
        kernel = RealKernel()
        kernel.unshare(namespace.CLONE_NEWUTS)
        kernel.sethostname("rkt-linux-test")
        return socket.gethostname()

    assert run_forked(body) == "rkt-linux-test"
    assert socket.gethostname() == host


def test_private_tmpfs_is_invisible_to_the_parent(scratch: Path) -> None:
    before = mountinfo()

    def body() -> str:
        namespace.unshare(namespace.CLONE_NEWNS)
        mount.make_rprivate()
        Tmpfs("/", size="1m").apply(RealKernel(), str(scratch))
        (scratch / "inside").write_text("x")
        assert os.path.ismount(scratch)
        return "ok"

    try:
        assert run_forked(body) == "ok"
        assert mountinfo() == before
        assert not (scratch / "inside").exists()
    finally:
        if os.path.ismount(scratch):
            mount.umount2(str(scratch), MNT_DETACH)


def test_bind_target_through_outside_symlink_is_refused(scratch: Path) -> None:
    root = scratch / "root"
    root.mkdir()
    (root / "etc").symlink_to("/etc")
    (root / "cfg").symlink_to("/inside-cfg")
    source = scratch / "source"
    source.mkdir()
    (source / "marker").write_text("bound")
    before = mountinfo()

    def body() -> str:
        namespace.unshare(namespace.CLONE_NEWNS)
        mount.make_rprivate()
        kernel = RealKernel()
        with pytest.raises(OSError) as info:
            Bind(str(source), "/etc/x").apply(kernel, str(root))
        assert info.value.errno == errno.ELOOP, info.value
        assert "bind" in str(info.value) and "/etc/x" in str(info.value)
        # An absolute symlink that stays inside the root is followed inside it.
        Bind(str(source), "/cfg/x", read_only=True).apply(kernel, str(root))
        assert (root / "inside-cfg" / "x" / "marker").read_text() == "bound"
        assert os.statvfs(root / "inside-cfg" / "x").f_flag & os.ST_RDONLY
        return "ok"

    try:
        assert run_forked(body) == "ok"
        assert not Path("/etc/x").exists()
        assert not Path("/inside-cfg").exists()
        assert mountinfo() == before
    finally:
        for path in (Path("/etc/x"), root / "inside-cfg" / "x"):
            if os.path.ismount(path):
                mount.umount2(str(path), MNT_DETACH)
