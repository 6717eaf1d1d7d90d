"""The one failure helper: messages name the call, its arguments, strerror and a likely cause."""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path

import pytest

from rkt.linux import capability, syscall


def test_check_passes_results_through() -> None:
    assert syscall.check(0, "unshare", 0x20000) == 0
    assert syscall.check(7, "open") == 7


def test_check_raises_with_name_args_and_cause() -> None:
    ctypes.set_errno(errno.EPERM)
    with pytest.raises(OSError) as info:
        syscall.check(-1, "unshare", 0x20000)
    assert info.value.errno == errno.EPERM
    assert str(info.value.strerror) == (
        "unshare(0x20000): Operation not permitted; needs CAP_SYS_ADMIN "
        "(run as root, or in a user namespace that owns the object)"
    )


def test_error_message_shows_strings_and_none() -> None:
    err = syscall.error("mount", (None, "/x", "tmpfs", 4096, None), errno.ENODEV)
    assert err.errno == errno.ENODEV
    assert err.strerror == (
        "mount(None, '/x', 'tmpfs', 0x1000, None): No such device; "
        "the filesystem type is not supported by this kernel"
    )


def test_syscall_specific_cause_wins_over_generic() -> None:
    assert "MS_SHARED" in syscall.explain("pivot_root", errno.EINVAL)
    assert "MNT_DETACH" in syscall.explain("umount2", errno.EBUSY)
    # A qualified prctl name shares the causes of prctl.
    assert syscall.explain("prctl(PR_CAPBSET_DROP)", errno.EINVAL).startswith("unknown option")


def test_unknown_errno_has_no_cause() -> None:
    assert syscall.explain("mount", errno.EXDEV) == ""
    err = syscall.error("mount", (), errno.EXDEV)
    assert err.strerror == "mount(): Invalid cross-device link"


def test_unknown_syscall_number_is_enosys() -> None:
    with pytest.raises(OSError) as info:
        syscall.syscall_number("no_such_call")
    assert info.value.errno == errno.ENOSYS


def test_capability_parse_and_names() -> None:
    assert capability.parse("CAP_NET_ADMIN") == 12
    assert capability.parse("net_admin") == 12
    assert capability.parse(" cap_sys_admin ") == 21
    assert capability.name_of(5) == "CAP_KILL"
    assert capability.name_of(99) == "CAP_99"
    assert capability.mask([0, 5]) == 0x21
    with pytest.raises(ValueError, match="unknown capability 'CAP_FLY'"):
        capability.parse("CAP_FLY")


def test_capability_sets_from_status(tmp_path: Path) -> None:
    status = tmp_path / "status"
    status.write_text(
        "Name:\tx\nCapInh:\t0000000000000000\nCapPrm:\t0000000000000021\n"
        "CapEff:\t0000000000000021\nCapBnd:\t000001ffffffffff\nCapAmb:\t0000000000000001\n"
    )
    sets = capability.current(str(status))
    assert sets == capability.CapabilitySets(
        bounding=0x1FFFFFFFFFF, permitted=0x21, effective=0x21, inheritable=0, ambient=1
    )
