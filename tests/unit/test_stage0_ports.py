"""``--port=NAME:[HOSTIP:]HOSTPORT``: parsing, resolution against the images' ports, mappings."""

from __future__ import annotations

import pytest

from appc.schema.app import ExposedPort, Port
from rkt.errors import ConfigError
from rkt.stage0.options import parse_ports, port_mappings, resolve_ports

HTTP = Port("http", "tcp", 80)


def test_parse_ports() -> None:
    assert parse_ports(["http:8080", "dns:127.0.0.1:53", "v6:[fd00::2]:81", "w:fd00::1:82"]) == (
        ExposedPort("http", 8080),
        ExposedPort("dns", 53, "127.0.0.1"),
        ExposedPort("v6", 81, "fd00::2"),
        ExposedPort("w", 82, "fd00::1"),
    )


@pytest.mark.parametrize("text", ["http:[::1]:8080", "http:::1:8080"])
def test_parse_ports_refuses_ipv6_loopback(text: str) -> None:
    # portmap's DNAT of ::1 never reaches a pod: IPv6 has no route_localnet.
    with pytest.raises(ConfigError, match="::1 cannot be forwarded"):
        parse_ports([text])


@pytest.mark.parametrize(
    "text", ["http", "http:", ":80", "http:x", "http:0", "http:70000", "Http:80", "http:1.2.3:80"]
)
def test_parse_ports_refuses(text: str) -> None:
    with pytest.raises(ConfigError, match="--port"):
        parse_ports([text])


def test_parse_ports_refuses_a_name_twice() -> None:
    with pytest.raises(ConfigError, match="more than once"):
        parse_ports(["http:80", "http:81"])


def test_resolve_ports() -> None:
    got = resolve_ports(parse_ports(["http:127.0.0.1:8080"]), [HTTP], "default")
    assert got == (ExposedPort("http", 8080, "127.0.0.1", HTTP),)
    assert port_mappings(got) == [
        {"hostPort": 8080, "containerPort": 80, "protocol": "tcp", "hostIP": "127.0.0.1"}
    ]
    assert resolve_ports((), [], "none") == ()


def test_resolve_ports_names_the_unknown_port_and_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"'nosuch'.*ports: dns, http"):
        resolve_ports(parse_ports(["nosuch:80"]), [HTTP, Port("dns", "udp", 53)], "default")


@pytest.mark.parametrize("net", ["host", "none"])
def test_resolve_ports_refuses_host_and_none(net: str) -> None:
    with pytest.raises(ConfigError, match=f"--net={net}"):
        resolve_ports(parse_ports(["http:80"]), [HTTP], net)


def test_port_ranges_map_port_by_port() -> None:
    ranged = resolve_ports(parse_ports(["r:9000"]), [Port("r", "udp", 100, count=2)], "default")
    assert [m["hostPort"] for m in port_mappings(ranged)] == [9000, 9001]
    assert [m["containerPort"] for m in port_mappings(ranged)] == [100, 101]
    with pytest.raises(ConfigError, match="65535"):
        resolve_ports(parse_ports(["r:65535"]), [Port("r", "udp", 100, count=2)], "default")
