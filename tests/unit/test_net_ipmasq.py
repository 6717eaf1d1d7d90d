"""rkt makes ptp's ipMasq rules itself, in one iptables-restore, named as ptp names them."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rkt.net import pod as net_pod
from rkt.net.config import builtin_networks, parse_network
from rkt.net.result import parse_result

UUID = "6f1b8a64-0000-4000-8000-000000000001"


def test_ptp_with_ipmasq_is_handed_over_marked() -> None:
    default = builtin_networks()["default"]
    assert default.plugins[0]["ipMasq"] is True
    ours = net_pod._masquerade_ourselves(default)
    assert ours is not None
    assert ours.plugins[0]["ipMasq"] is False and ours.plugins[0][net_pod.MASQ_BY_RKT] is True
    assert ours.plugins[0]["ipam"] == default.plugins[0]["ipam"]
    # What is cached (the raw bytes) says the same, so a later DEL and sweep agree.
    again = parse_network(ours.raw, ours.source)
    assert again.plugins[0][net_pod.MASQ_BY_RKT] is True


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
    assert net_pod._masquerade_ourselves(network) is None


def test_rules_are_ptps_in_one_restore_per_family(monkeypatch: pytest.MonkeyPatch) -> None:
    runs: list[tuple[list[str], str | None]] = []

    def iptables(command: list[str], stdin: str | None = None) -> int:
        runs.append((command, stdin))
        return 0

    monkeypatch.setattr(net_pod, "_iptables", iptables)
    result = parse_result(
        {
            "cniVersion": "1.0.0",
            "ips": [{"address": "172.16.28.5/24"}, {"address": "fd52:6b74:1::5/64"}],
        }
    )
    net_pod._add_ipmasq("default", UUID, result)
    chain, comment = net_pod._ipmasq_names("default", UUID)
    assert [command[0] for command, _ in runs] == ["iptables-restore", "ip6tables-restore"]
    v4 = runs[0][1]
    assert v4 is not None
    quoted = '"' + comment.replace('"', '\\"') + '"'
    assert v4.splitlines() == [
        "*nat",
        f":{chain} - [0:0]",
        f"-A {chain} -d 172.16.28.0/24 -j ACCEPT -m comment --comment {quoted}",
        f"-A {chain} ! -d 224.0.0.0/4 -j MASQUERADE -m comment --comment {quoted}",
        f"-A POSTROUTING -s 172.16.28.5/32 -j {chain} -m comment --comment {quoted}",
        "COMMIT",
    ]
    assert "! -d ff00::/8 -j MASQUERADE" in (runs[1][1] or "")


def test_a_failed_restore_fails_the_add(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_pod, "_iptables", lambda command, stdin=None: 1)
    result = parse_result({"cniVersion": "1.0.0", "ips": [{"address": "172.16.28.5/24"}]})
    with pytest.raises(net_pod.NetworkError, match="iptables-restore"):
        net_pod._add_ipmasq("default", UUID, result)
