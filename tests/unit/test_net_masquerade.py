"""rkt masquerades ptp networks itself: per network (host-local) or per pod, as ptp would."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rkt.net import masquerade
from rkt.net.cni import Attachment
from rkt.net.config import builtin_networks, parse_network
from rkt.net.result import parse_result

UUID = "6f1b8a64-0000-4000-8000-000000000001"


def ptp(ipam: dict[str, Any], name: str = "n") -> Any:
    doc = {"cniVersion": "1.0.0", "name": name, "type": "ptp", "ipMasq": True, "ipam": ipam}
    return parse_network(json.dumps(doc).encode(), f"/etc/rkt/net.d/{name}.conf")


def test_the_default_network_is_masqueraded_per_network() -> None:
    default = builtin_networks()["default"]
    assert default.plugins[0]["ipMasq"] is True
    ours = masquerade.take_over(default)
    assert ours is not None and masquerade.mode(ours) == masquerade.PER_NETWORK
    assert ours.plugins[0]["ipMasq"] is False
    assert ours.plugins[0]["ipam"] == default.plugins[0]["ipam"]
    # What is cached (the raw bytes) says the same, so a later DEL and gc agree.
    assert masquerade.mode(parse_network(ours.raw, ours.source)) == masquerade.PER_NETWORK
    dual = masquerade.take_over(builtin_networks("fd52:6b74:1::/64")["default"])
    assert dual is not None and masquerade.mode(dual) == masquerade.PER_NETWORK


def test_other_ipams_are_masqueraded_per_pod() -> None:
    ours = masquerade.take_over(ptp({"type": "dhcp"}))
    assert ours is not None and masquerade.mode(ours) is True
    nameless = masquerade.take_over(ptp({"type": "host-local", "ranges": [[{"gateway": "x"}]]}))
    assert nameless is not None and masquerade.mode(nameless) is True


@pytest.mark.parametrize(
    "conf",
    [
        {"cniVersion": "1.0.0", "name": "n", "type": "ptp", "ipMasq": False},
        {"cniVersion": "1.0.0", "name": "n", "type": "bridge", "ipMasq": True},
        {"cniVersion": "1.0.0", "name": "n", "type": "ptp"},
    ],
)
def test_other_networks_are_left_to_their_plugins(conf: dict[str, Any]) -> None:
    network = parse_network(json.dumps(conf).encode(), "/etc/rkt/net.d/n.conf")
    assert masquerade.take_over(network) is None
    assert masquerade.mode(network) is None


class Iptables:
    """Stands in for the iptables commands: ``checks`` answers ``-C`` (0: the rule is there),
    restores succeed (or return ``restore``), ``listing`` answers ``-S``."""

    def __init__(
        self, monkeypatch: pytest.MonkeyPatch, checks: int, listing: str = "", restore: int = 0
    ) -> None:
        self.checked: list[list[str]] = []
        self.restored: list[tuple[str, str]] = []
        self.listing = listing
        self.checks = checks
        self.restore = restore
        monkeypatch.setattr(masquerade, "start_iptables", self.start)
        monkeypatch.setattr(masquerade, "wait_iptables", lambda process: process)
        monkeypatch.setattr(masquerade, "run_iptables", self.run)
        monkeypatch.setattr(masquerade, "_output", lambda command: self.listing)

    def start(self, command: list[str], stdin: str | None = None) -> int:
        if stdin is None:
            self.checked.append(command)
            return self.checks
        self.restored.append((command[0], stdin))
        return self.restore

    def run(self, command: list[str], stdin: str | None = None) -> int:
        self.restored.append((command[0], stdin or ""))
        return 0


def dual_default() -> Any:
    network = masquerade.take_over(builtin_networks("fd52:6b74:1::/64")["default"])
    assert network is not None
    return network


def chain_lines(chain: str, comment: str, subnet: str) -> list[str]:
    """What an IPv4 restore script declares of ``chain`` before its jumps."""
    quoted = '"' + comment.replace('"', '\\"') + '"'
    return [
        "*nat",
        f":{chain} - [0:0]",
        f"-A {chain} -d {subnet} -j ACCEPT -m comment --comment {quoted}",
        f"-A {chain} ! -d 224.0.0.0/4 -j MASQUERADE -m comment --comment {quoted}",
    ]


def test_the_first_pod_makes_the_chain_without_checking(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Iptables(monkeypatch, checks=1)
    ensuring = masquerade.Ensuring(dual_default(), tmp_path)
    # Started before the ADD: the restores run while the plugin works.
    assert [tool for tool, _ in fake.restored] == ["iptables-restore", "ip6tables-restore"]
    assert fake.checked == []
    ensuring.finish()
    chain, comment = masquerade.network_names(
        "default", {4: ["172.16.28.0/24"], 6: ["fd52:6b74:1::/64"]}
    )
    for family in (4, 6):
        assert (tmp_path / masquerade.MARKERS / f"{chain}.ipv{family}").read_text() == "default\n"
    quoted = '"' + comment.replace('"', '\\"') + '"'
    assert fake.restored[0][1].splitlines() == [
        *chain_lines(chain, comment, "172.16.28.0/24"),
        f"-A POSTROUTING -s 172.16.28.0/24 -m comment --comment {quoted} -j {chain}",
        "COMMIT",
    ]
    assert "-A POSTROUTING -s fd52:6b74:1::/64 " in fake.restored[1][1]
    assert "! -d ff00::/8 -j MASQUERADE" in fake.restored[1][1]

    # The next pod checks (one -C per subnet) and, the chain being there, changes nothing.
    fake.restored.clear()
    fake.checks = 0
    masquerade.Ensuring(dual_default(), tmp_path).finish()
    assert [c[0] for c in fake.checked] == ["iptables", "ip6tables"]
    assert fake.checked[0][3:] == ["-t", "nat", "-C", "POSTROUTING", "-s", "172.16.28.0/24",
                                   "-m", "comment", "--comment", comment, "-j", chain]  # fmt: skip
    assert fake.restored == []


def test_a_chain_flushed_by_someone_else_is_remade(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake = Iptables(monkeypatch, checks=1)
    network = masquerade.take_over(builtin_networks()["default"])
    assert network is not None
    chain = masquerade.network_names("default", {4: ["172.16.28.0/24"]})[0]
    (tmp_path / masquerade.MARKERS).mkdir()
    (tmp_path / masquerade.MARKERS / f"{chain}.ipv4").write_text("default\n")  # then flushed
    masquerade.Ensuring(network, tmp_path).finish()
    assert len(fake.checked) == 2  # checked while the ADD ran, and again under the lock
    assert [tool for tool, _ in fake.restored] == ["iptables-restore"]
    assert "-A POSTROUTING -s 172.16.28.0/24" in fake.restored[0][1]


def test_a_failed_restore_fails_the_add(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    Iptables(monkeypatch, checks=1, restore=1)
    network = masquerade.take_over(builtin_networks()["default"])
    assert network is not None
    ensuring = masquerade.Ensuring(network, tmp_path)
    with pytest.raises(masquerade.NetworkError, match="iptables-restore"):
        ensuring.finish()
    assert list((tmp_path / masquerade.MARKERS).glob("*.ipv*")) == []


def test_a_chain_made_for_a_failed_add_is_marked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ADD failed, the chain was made all the same: marked, so the next pod checks it
    rather than making it again (which would add a second jump)."""
    fake = Iptables(monkeypatch, checks=0)
    network = masquerade.take_over(builtin_networks()["default"])
    assert network is not None
    masquerade.Ensuring(network, tmp_path).abandon()
    assert len(list((tmp_path / masquerade.MARKERS).glob("*.ipv4"))) == 1
    fake.restored.clear()
    masquerade.Ensuring(network, tmp_path).finish()
    assert fake.restored == [] and len(fake.checked) == 1


def test_chains_are_named_after_the_subnets_too() -> None:
    """A network whose subnets are edited gets a new chain: the old one, which its running
    pods use, is left as it is."""
    old = masquerade.network_names("n", {4: ["10.1.2.0/24"]})
    new = masquerade.network_names("n", {4: ["10.1.3.0/24"]})
    assert old[0] != new[0] and old[1] == new[1]
    assert len(old[0]) <= 28 and old[0].startswith("RKT-MASQ-")
    assert masquerade.network_names("m", {4: ["10.1.2.0/24"]})[0] != old[0]


def test_gc_waits_for_pods_that_are_joining(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """From the start of Ensuring to finish (the ADD, and so the lease, in between) gc cannot
    take the lock it removes chains under."""
    import fcntl
    import os

    Iptables(monkeypatch, checks=0)
    network = masquerade.take_over(builtin_networks()["default"])
    assert network is not None
    ensuring = masquerade.Ensuring(network, tmp_path)
    fd = os.open(tmp_path / masquerade.LOCK, os.O_RDWR)
    try:
        with pytest.raises(BlockingIOError):
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        ensuring.finish()
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(fd)


def test_release_waits_for_the_last_lease(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """gc removes every chain of the network (here: one made before its subnet was edited,
    and one made since), with their jumps and markers, once no lease is left."""
    chain, comment = masquerade.network_names("n", {4: ["10.1.2.0/24"]})
    older = masquerade.network_names("n", {4: ["10.1.9.0/24"]})[0]
    quoted = '"' + comment.replace('"', '\\"') + '"'  # as iptables -S prints it
    listing = (
        "-P POSTROUTING ACCEPT\n"
        f"-N {chain}\n"
        f"-N {older}\n"
        f"-A POSTROUTING -s 10.1.2.0/24 -m comment --comment {quoted} -j {chain}\n"
        "-A POSTROUTING -s 10.9.9.0/24 -j MASQUERADE\n"
        f"-A POSTROUTING -s 10.1.9.0/24 -m comment --comment {quoted} -j {older}\n"
        f"-A {chain} -d 10.1.2.0/24 -m comment --comment {quoted} -j ACCEPT\n"
        f"-A {older} -d 10.1.9.0/24 -m comment --comment {quoted} -j ACCEPT\n"
    )
    fake = Iptables(monkeypatch, checks=0, listing=listing)
    leases = tmp_path / "leases"
    network = masquerade.take_over(ptp({"type": "host-local", "subnet": "10.1.2.0/24",
                                        "dataDir": str(leases)}))  # fmt: skip
    assert network is not None and masquerade.lease_dir(network) == leases / "n"
    (leases / "n").mkdir(parents=True)
    for name in ("lock", "last_reserved_ip.0", "10.1.2.7"):
        (leases / "n" / name).write_text(UUID)
    (tmp_path / masquerade.MARKERS).mkdir()
    (tmp_path / masquerade.MARKERS / f"{chain}.ipv4").write_text("n\n")
    assert masquerade.release_if_idle(network, tmp_path) == []
    assert fake.restored == []  # a pod holds 10.1.2.7

    (leases / "n" / "10.1.2.7").unlink()
    assert masquerade.release_if_idle(network, tmp_path) == []
    assert not (tmp_path / masquerade.MARKERS / f"{chain}.ipv4").exists()
    first, second = sorted([chain, older])
    assert fake.restored[0][0] == "iptables-restore"
    assert fake.restored[0][1].splitlines() == [
        "*nat",
        f"-D POSTROUTING -s 10.1.2.0/24 -m comment --comment {quoted} -j {chain}",
        f"-D POSTROUTING -s 10.1.9.0/24 -m comment --comment {quoted} -j {older}",
        f"-F {first}",
        f"-X {first}",
        f"-F {second}",
        f"-X {second}",
        "COMMIT",
    ]
    dhcp = masquerade.take_over(ptp({"type": "dhcp"}))
    assert dhcp is not None and masquerade.lease_dir(dhcp) is None
    assert masquerade.release_if_idle(dhcp, tmp_path) == []


def test_per_pod_rules_are_ptps_in_one_restore_per_family(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fake = Iptables(monkeypatch, checks=0)
    result = parse_result(
        {
            "cniVersion": "1.0.0",
            "ips": [{"address": "172.16.28.5/24"}, {"address": "fd52:6b74:1::5/64"}],
        }
    )
    masquerade.add_for_pod("default", UUID, result)
    chain, comment = masquerade.pod_names("default", UUID)
    assert [tool for tool, _ in fake.restored] == ["iptables-restore", "ip6tables-restore"]
    quoted = '"' + comment.replace('"', '\\"') + '"'
    assert fake.restored[0][1].splitlines() == [
        *chain_lines(chain, comment, "172.16.28.0/24"),
        f"-A POSTROUTING -s 172.16.28.5/32 -j {chain} -m comment --comment {quoted}",
        "COMMIT",
    ]
    assert "! -d ff00::/8 -j MASQUERADE" in fake.restored[1][1]

    # Swept by the teardown, from the cached result; a per-network attachment has nothing.
    per_pod = masquerade.take_over(ptp({"type": "dhcp"}, name="default"))
    assert per_pod is not None
    entry = Attachment(per_pod, UUID, "eth0", "", "", 0, result)
    assert masquerade.needs_sweep(entry)
    fake.restored.clear()
    assert masquerade.sweep(entry) == []
    assert (
        f"-D POSTROUTING -s 172.16.28.5/32 -m comment --comment {quoted} -j {chain}"
        in (fake.restored[0][1])
    )
    per_network = masquerade.take_over(builtin_networks()["default"])
    assert per_network is not None
    assert not masquerade.needs_sweep(Attachment(per_network, UUID, "eth0", "", "", 0, result))


def test_restore_line_quotes_the_plugins_comment() -> None:
    line = masquerade.restore_line(
        ["-D", "POSTROUTING", "-m", "comment", "--comment", 'name: "default" id: "u"', "-j", "C"]
    )
    assert line == '-D POSTROUTING -m comment --comment "name: \\"default\\" id: \\"u\\"" -j C\n'
