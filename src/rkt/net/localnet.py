"""Keeping the host's loopback the host's while pods forward ports (docs/security.md 13).

CNI's portmap plugin with ``snat`` (which rkt always asks for, rkt.net.selection) turns on
``net.ipv4.conf.<host end of the pod's veth>.route_localnet``, so that the host's own
connections to ``127.0.0.1:HOSTPORT`` can be DNAT'ed to the pod. The same bit makes the kernel
accept packets *from* the pod addressed to 127.0.0.0/8 on that interface instead of dropping
them as martians: a pod with CAP_NET_RAW (in the default set) sends a frame to 127.0.0.1 and a
host service bound to 127.0.0.1 only receives it (Kubernetes CVE-2020-8558).

The guard is kube-proxy's answer to that CVE, keyed on the interface rather than on the source
address (which a raw frame can forge): one rule in the ``filter`` table's ``INPUT`` chain,
dropping packets to 127.0.0.0/8 (``::1`` for IPv6, which has no route_localnet but costs
nothing to guard) that arrive on any interface but ``lo`` and are neither replies of a
connection the host made nor DNAT'ed forwards. :class:`Guarding` makes sure the rule is there
while the ADD of a network with port forwards runs (its ``iptables -C`` runs meanwhile), and
the pod's apps start only after that (stage0 tells stage1 once every network is up). The rule
is host-wide and harmless without route_localnet; ``rkt gc`` removes it (:func:`release_if_unused`)
once no interface has route_localnet on, since removing a rule costs an RCU grace period that
no pod's start or exit should pay.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path

from rkt.errors import NetworkError
from rkt.net.masquerade import RUN_DIR, flock, run_iptables, start_iptables, wait_iptables

__all__ = ["COMMENT", "LOCK", "Guarding", "needs_guard", "release_if_unused", "rule"]

COMMENT = "rkt: pods may not reach the host's loopback"
#: Shared while a pod's networks are ADDed, exclusive for gc's removal (in RUN_DIR).
LOCK = "localnet.lock"
#: Marks a family whose rule rkt made (``localnet.ipv4``/``.ipv6`` in RUN_DIR): gc only looks
#: for rules where a marker says rkt made one.
MARKER = "localnet.ipv{}"
_LOOPBACK = {4: "127.0.0.0/8", 6: "::1/128"}
_TOOL = {4: "iptables", 6: "ip6tables"}
#: Where the kernel shows each IPv4 interface's route_localnet.
PROC_CONF = Path("/proc/sys/net/ipv4/conf")


def rule(family: int) -> list[str]:
    """The guard's rule in ``INPUT`` (without the command word)."""
    return [
        "INPUT", "!", "-i", "lo", "-d", _LOOPBACK[family],
        "-m", "conntrack", "!", "--ctstate", "RELATED,ESTABLISHED,DNAT",
        "-m", "comment", "--comment", COMMENT, "-j", "DROP",
    ]  # fmt: skip


def needs_guard(runtime: object) -> bool:
    """Whether a network's runtimeConfig forwards ports (portmap then sets route_localnet)."""
    return isinstance(runtime, dict) and bool(runtime.get("portMappings"))


class Guarding:
    """The guard checked (one ``iptables -C`` per family, started now) while a network with
    port forwards is ADDed, and made in :meth:`finish` where it is missing. Holds :data:`LOCK`
    shared until then, so that gc cannot remove the rule between the check and the moment the
    pod's interface has route_localnet on (after which gc sees that and keeps it)."""

    def __init__(self, run_dir: Path = RUN_DIR) -> None:
        self.run_dir = run_dir
        self._lock = flock(run_dir / LOCK, fcntl.LOCK_SH)
        self.checks = {f: start_iptables([_TOOL[f], "-w", "5", "-C", *rule(f)]) for f in _TOOL}

    def finish(self) -> None:
        """Wait for the checks, insert the rule where it is missing, mark it; NetworkError if
        the IPv4 rule cannot be made (a host without ip6tables has no IPv6 to guard)."""
        try:
            for family, check in self.checks.items():
                found = wait_iptables(check)
                if found is None and family == 6:
                    continue  # no ip6tables: nothing of IPv6 is forwarded either
                if found != 0:
                    command = [_TOOL[family], "-w", "5", "-I", *rule(family)[:1], "1"]
                    if run_iptables([*command, *rule(family)[1:]]) != 0:
                        raise NetworkError(
                            f"{_TOOL[family]} could not add the rule that keeps pods from "
                            f"reaching the host's {_LOOPBACK[family]}"
                        )
                marker = self.run_dir / MARKER.format(family)
                if not marker.exists():
                    marker.write_text(COMMENT + "\n")
            self.checks = {}
        finally:
            self.abandon()

    def abandon(self) -> None:
        """Let go: checks still running are waited for, the lock released."""
        for check in self.checks.values():
            wait_iptables(check)
        self.checks = {}
        if self._lock >= 0:
            os.close(self._lock)
            self._lock = -1


def _route_localnet_on(proc_conf: Path) -> bool:
    """Whether any interface (or ``all``) has route_localnet on."""
    try:
        names = os.listdir(proc_conf)
    except OSError:
        return True  # cannot tell: keep the guard
    for name in names:
        if name in ("default", "lo"):
            continue
        with contextlib.suppress(OSError):
            if (proc_conf / name / "route_localnet").read_bytes().strip() != b"0":
                return True
    return False


def release_if_unused(run_dir: Path = RUN_DIR, proc_conf: Path = PROC_CONF) -> list[str]:
    """``rkt gc``: remove the guard rkt made once no interface has route_localnet on (the
    interfaces portmap turned it on for went with their pods); the errors."""
    markers = {f: run_dir / MARKER.format(f) for f in _TOOL}
    if not any(m.exists() for m in markers.values()):
        return []
    errors: list[str] = []
    fd = flock(run_dir / LOCK, fcntl.LOCK_EX)
    try:
        if _route_localnet_on(proc_conf):
            return []
        for family, marker in markers.items():
            if not marker.exists():
                continue
            status = run_iptables([_TOOL[family], "-w", "5", "-D", *rule(family)])
            if status is None:
                errors.append(f"{_TOOL[family]}: cannot run it to remove the loopback guard")
                continue
            # 0: removed; otherwise it was gone already (flushed by someone else).
            marker.unlink(missing_ok=True)
    finally:
        os.close(fd)
    return errors
