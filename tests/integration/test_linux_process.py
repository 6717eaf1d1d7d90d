"""prctl switches, capability sets and fd hygiene of ``rkt.linux``, as root, in forked children."""

from __future__ import annotations

import errno
import fcntl
import os

import pytest

from rkt.linux import capability, process
from tests.integration.test_linux_namespaces import run_forked

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="dropping capabilities needs root"),
]


def test_prctl_switches() -> None:
    def body() -> str:
        assert process.get_dumpable()
        process.set_dumpable(False)
        assert not process.get_dumpable()
        assert not process.get_no_new_privs()
        process.set_no_new_privs()
        assert process.get_no_new_privs()
        process.set_child_subreaper(True)
        process.set_pdeathsig()
        return "ok"

    assert run_forked(body) == "ok"


def test_reduce_to_sets_all_five_sets() -> None:
    keep = (capability.parse("CAP_NET_BIND_SERVICE"), capability.parse("CAP_KILL"))

    def body() -> str:
        capability.reduce_to(keep)
        sets = capability.current()
        assert capability.capget() == (sets.effective, sets.permitted, sets.inheritable)
        return " ".join(hex(s) for s in sets)

    bits = hex(capability.mask(keep))
    assert run_forked(body).split() == [bits] * 5


def test_reduce_to_refuses_unknown_capability() -> None:
    def body() -> str:
        with pytest.raises(OSError) as info:
            capability.reduce_to([63])
        assert info.value.errno == errno.EINVAL
        assert "CAP_63" in str(info.value)
        return "ok"

    assert run_forked(body) == "ok"


def test_capset_failure_names_the_call() -> None:
    def body() -> str:
        capability.reduce_to([capability.parse("CAP_KILL")])
        with pytest.raises(OSError) as info:
            capability.capset(0x21, 0x21, 0)
        assert info.value.errno == errno.EPERM
        assert str(info.value.strerror).startswith("capset('0x21', '0x21', '0x0'): ")
        return "ok"

    assert run_forked(body) == "ok"


def test_fd_hygiene() -> None:
    def body() -> str:
        fds = [os.open("/dev/null", os.O_RDONLY) for _ in range(4)]
        for fd in fds:
            os.set_inheritable(fd, True)
        process.set_cloexec_from(fds[0])
        assert all(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC for fd in fds)
        # Keep what was open before (the pipe to the parent among it) and one of the four.
        before = {int(n) for n in os.listdir("/proc/self/fd")} - set(fds)
        process.close_fds(keep=(*before, fds[2]))
        os.fstat(fds[2])
        for fd in (fds[0], fds[1], fds[3]):
            with pytest.raises(OSError):
                os.fstat(fd)
        return "ok"

    assert run_forked(body) == "ok"
