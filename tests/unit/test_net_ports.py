"""Port forwarding in the network layer: portmap appended to the forwarding network's chain,
the mappings saved as its runtimeConfig and cached for DEL."""

from __future__ import annotations

import json
from pathlib import Path

from rkt.net.cni import Attachment, Client
from rkt.net.config import builtin_networks, parse_network
from rkt.net.selection import PORTMAP, forward_ports, save_selection, with_portmap

MAPPING = {"hostPort": 8080, "containerPort": 80, "protocol": "tcp"}


def _conf(name: str, *, masq: bool) -> bytes:
    doc = {"cniVersion": "1.0.0", "name": name, "type": "ptp", "ipMasq": masq,
           "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"}}  # fmt: skip
    return json.dumps(doc).encode()


def test_with_portmap_turns_a_conf_into_a_conflist() -> None:
    network = with_portmap(builtin_networks()["default"])
    assert network.is_list and network.name == "default"
    assert [p["type"] for p in network.plugins] == ["ptp", "portmap"]
    assert dict(network.plugins[1]) == PORTMAP
    assert "name" not in network.plugins[0] and network.plugins[0]["ipMasq"] is True
    assert network.source.endswith(".conflist")
    assert parse_network(network.raw, network.source) == network


def test_with_portmap_keeps_a_chain_that_has_one() -> None:
    doc = {"cniVersion": "1.0.0", "name": "n", "plugins": [{"type": "ptp"}, dict(PORTMAP)]}
    network = parse_network(json.dumps(doc).encode(), "/x/n.conflist")
    assert with_portmap(network) is network


def test_forward_ports_picks_the_first_masquerading_network_else_the_last() -> None:
    a = parse_network(_conf("a", masq=False), "a.conf")
    b = parse_network(_conf("b", masq=True), "b.conf")
    c = parse_network(_conf("c", masq=False), "c.conf")
    chosen, index = forward_ports([(a, ""), (b, ""), (c, "")], [MAPPING])
    assert index == 1 and chosen[1][0].is_list and chosen[0][0] is a and chosen[2][0] is c
    assert forward_ports([(a, ""), (c, "")], [MAPPING])[1] == 1
    assert forward_ports([(a, "")], []) == ([(a, "")], -1)


def test_save_selection_records_the_mappings(tmp_path: Path) -> None:
    a = parse_network(_conf("a", masq=False), "a.conf")
    save_selection(tmp_path, [(a, "")], [MAPPING])
    entries = json.loads((tmp_path / "net/networks.json").read_text())
    assert entries[0]["runtimeConfig"] == {"portMappings": [MAPPING]}
    assert entries[0]["conf"].endswith(".conflist")
    saved = parse_network((tmp_path / entries[0]["conf"]).read_bytes(), entries[0]["conf"])
    stdin = saved.plugin_config(1, {"cniVersion": "1.0.0"}, entries[0]["runtimeConfig"])
    assert stdin["runtimeConfig"] == {"portMappings": [MAPPING]}
    assert "runtimeConfig" not in saved.plugin_config(0, None, entries[0]["runtimeConfig"])


def test_the_cache_keeps_the_runtime_config_for_del(tmp_path: Path) -> None:
    client = Client(tmp_path)
    network = with_portmap(parse_network(_conf("a", masq=False), "a.conf"))
    runtime = {"portMappings": [MAPPING]}
    client._write_cache(Attachment(network, "c1", "eth0", "", "", 0, None, runtime))
    cached = client.cached("a", "c1", "eth0")
    assert cached is not None and cached.runtime_config == runtime
    client._write_cache(Attachment(network, "c2", "eth0", "", "", 0, None))
    again = client.cached("a", "c2", "eth0")
    assert again is not None and again.runtime_config is None
