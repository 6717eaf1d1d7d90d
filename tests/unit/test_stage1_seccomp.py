"""Resolving a planned seccomp filter with rkt's groups (rkt.stage1.planner.seccomp_groups)."""

from __future__ import annotations

import errno

import pytest

from rkt.stage1.planner.capabilities import DEFAULT_SECCOMP
from rkt.stage1.planner.plan import PlanError, Seccomp
from rkt.stage1.planner.seccomp_groups import (
    DOCKER_DEFAULT_BLACKLIST,
    DOCKER_DEFAULT_WHITELIST,
    MODERN_WHITELIST_ADDITIONS,
    RKT_ARM_WHITELIST_ADDITIONS,
    Filter,
    groups,
    resolve,
)

WHITELIST = DOCKER_DEFAULT_WHITELIST + MODERN_WHITELIST_ADDITIONS


def test_groups_are_rkts() -> None:
    # rkt 1.30's seccomp_wildcards.go: 309 whitelisted names, 50 blacklisted.
    assert len(DOCKER_DEFAULT_WHITELIST) == 309
    assert len(DOCKER_DEFAULT_BLACKLIST) == 50
    assert "mount" not in DOCKER_DEFAULT_WHITELIST
    assert {"kexec_load", "mount", "umount2", "reboot"} <= set(DOCKER_DEFAULT_BLACKLIST)
    assert not set(DOCKER_DEFAULT_WHITELIST) & set(DOCKER_DEFAULT_BLACKLIST)
    table = groups("x86_64")
    assert table["@rkt/default-whitelist"] == table["@docker/default-whitelist"] == WHITELIST
    assert table["@rkt/default-blacklist"] == table["@docker/default-blacklist"]
    arm = groups("aarch64")["@rkt/default-whitelist"]
    assert arm == WHITELIST + RKT_ARM_WHITELIST_ADDITIONS


def test_default_is_the_rkt_whitelist_killing() -> None:
    assert Seccomp("retain", ("@rkt/default-whitelist",), "") == DEFAULT_SECCOMP
    resolved = resolve(DEFAULT_SECCOMP, "x86_64")
    assert resolved == Filter("retain", WHITELIST, "")
    assert resolved is not None
    assert resolved.errno_number == 0


def test_no_filter() -> None:
    assert resolve(None) is None  # --insecure-options=seccomp
    assert resolve(Seccomp("retain", ("read", "@appc.io/all"))) is None


def test_remove_set_with_errno() -> None:
    resolved = resolve(Seccomp("remove", ("mkdir", "mkdirat"), "eperm"))
    assert resolved == Filter("remove", ("mkdir", "mkdirat"), "EPERM")
    assert resolved is not None
    assert resolved.errno_number == errno.EPERM


def test_groups_expand_and_deduplicate() -> None:
    resolved = resolve(Seccomp("remove", ("reboot", "@rkt/default-blacklist", "mkdir")))
    assert resolved is not None
    assert resolved.syscalls[0] == "reboot"
    assert resolved.syscalls[-1] == "mkdir"
    assert len(resolved.syscalls) == len(set(resolved.syscalls)) == 51


def test_remove_empty_opts_in_to_the_default_whitelist() -> None:
    # ace.md: @appc.io/empty in a remove set masks the rest and opts in to the default.
    resolved = resolve(Seccomp("remove", ("@appc.io/empty", "mkdir"), "ENOSYS"), "x86_64")
    assert resolved == Filter("retain", WHITELIST, "ENOSYS")


def test_degenerate_wildcards_block_everything() -> None:
    assert resolve(Seccomp("retain", ("@appc.io/empty",))) == Filter("retain", ())
    assert resolve(Seccomp("remove", ("@appc.io/all",), "EPERM")) == Filter("retain", (), "EPERM")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (Seccomp("remove", ("@rkt/nope",)), "unknown seccomp group"),
        (Seccomp("remove", ("@systemd/clock",)), "unknown seccomp group"),
        (Seccomp("remove", ("mkdir",), "ENOPE"), "unknown errno"),
        (Seccomp("sometimes", ("mkdir",)), "unknown seccomp mode"),
    ],
)
def test_errors(spec: Seccomp, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        resolve(spec)


def test_json_round_trip() -> None:
    resolved = Filter("remove", ("mkdir",), "EPERM")
    assert Filter.from_json(resolved.to_json()) == resolved
    for bad in ([], {"mode": "x", "syscalls": []}, {"mode": "retain", "syscalls": [1]}):
        with pytest.raises(PlanError):
            Filter.from_json(bad)


def test_build_skips_names_of_other_architectures() -> None:
    pytest.importorskip("pyseccomp")
    from rkt.linux import seccomp

    built = seccomp.build(
        seccomp.Action.kill(),
        [("read", seccomp.Action.allow()), ("no_such_call", seccomp.Action.allow())],
    )
    assert built.skipped == ("no_such_call",)


def test_mode_from_status() -> None:
    from rkt.linux import seccomp

    assert seccomp.mode(b"Name:\tsh\nSeccomp:\t2\nSeccomp_filters:\t1\n") == 2
    assert seccomp.mode(b"Name:\tsh\n") == 0


# --- hardening (docs/security.md 12; Docker's default profile) ---------------------------------


def test_hardening_refuses_tty_injection_vsock_and_namespaces() -> None:
    import termios

    from rkt.stage1.planner.seccomp_groups import NAMESPACE_FLAGS, hardening_rules

    rules = hardening_rules(False, "x86_64")
    ioctls = {c[0][2] for name, _, c in rules if name == "ioctl"}
    assert ioctls == {termios.TIOCSTI, 0x541C}
    # int arguments are compared on their lower 32 bits only, as the kernel reads them
    assert all(c[0][1] == 0xFFFFFFFF for name, _, c in rules if name in ("ioctl", "socket"))
    assert ("socket", "EPERM", ((0, 0xFFFFFFFF, 40),)) in rules
    clone_flags = {c[0][2] for name, _, c in rules if name == "clone"}
    assert clone_flags == set(NAMESPACE_FLAGS)
    assert all(c[0][0] == 0 for name, _, c in rules if name == "clone")
    assert ("clone3", "ENOSYS", ()) in rules
    assert {c[0][2] for name, _, c in rules if name == "unshare"} >= set(NAMESPACE_FLAGS)


def test_hardening_lets_apps_with_cap_sys_admin_make_namespaces() -> None:
    from rkt.stage1.planner.seccomp_groups import hardening_rules

    rules = hardening_rules(True, "x86_64")
    assert {name for name, _, _ in rules} == {"ioctl", "socket"}
    # s390's clone takes its flags second
    s390 = hardening_rules(False, "s390x")
    assert {c[0][0] for name, _, c in s390 if name == "clone"} == {1}


def test_namespaces_allowance_survives_the_record() -> None:
    resolved = resolve(Seccomp("retain", ("@rkt/default-whitelist",), "", namespaces=True))
    assert resolved is not None and resolved.namespaces
    again = Filter.from_json(resolved.to_json())
    assert again == resolved
    assert Filter.from_json({"mode": "retain", "syscalls": []}).namespaces is False
    with pytest.raises(PlanError):
        Filter.from_json({"mode": "retain", "syscalls": [], "namespaces": "yes"})


def test_planner_allows_namespaces_only_with_cap_sys_admin() -> None:
    from rkt.stage1.planner.capabilities import seccomp

    assert seccomp((), disabled=False).namespaces is False  # type: ignore[union-attr]
    admin = seccomp((), disabled=False, bounding=("CAP_CHOWN", "CAP_SYS_ADMIN"))
    assert admin is not None and admin.namespaces
    assert seccomp((), disabled=True, bounding=("CAP_SYS_ADMIN",)) is None
