"""The loopback guard's decisions (rkt.net.localnet); the rule itself is tested for real in
tests/integration/test_host_doors.py."""

from __future__ import annotations

from pathlib import Path

from rkt.net import localnet


def test_only_port_forwards_need_the_guard() -> None:
    assert localnet.needs_guard({"portMappings": [{"hostPort": 80}]})
    assert not localnet.needs_guard({"portMappings": []})
    assert not localnet.needs_guard(None)
    assert not localnet.needs_guard({})


def test_rule_matches_every_interface_but_lo_and_spares_replies_and_forwards() -> None:
    rule = localnet.rule(4)
    assert rule[:4] == ["INPUT", "!", "-i", "lo"]
    assert "127.0.0.0/8" in rule and rule[-2:] == ["-j", "DROP"]
    assert "RELATED,ESTABLISHED,DNAT" in rule
    assert "::1/128" in localnet.rule(6)


def _conf(tmp_path: Path, **values: str) -> Path:
    for name, value in values.items():
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "route_localnet").write_text(value + "\n")
    return tmp_path


def test_gc_keeps_the_guard_while_an_interface_routes_localnet(tmp_path: Path) -> None:
    on = _conf(tmp_path / "on", default="0", lo="0", eth0="0", veth1="1")
    assert localnet._route_localnet_on(on)
    off = _conf(tmp_path / "off", all="0", default="1", lo="1", eth0="0")
    assert not localnet._route_localnet_on(off)


def test_gc_without_a_marker_asks_nothing(tmp_path: Path) -> None:
    # No marker: rkt made no rule here, so gc runs no iptables at all.
    assert localnet.release_if_unused(tmp_path / "run", tmp_path / "conf") == []
    assert not (tmp_path / "run").exists()
