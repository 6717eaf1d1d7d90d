"""rkt.net.pod.teardown's choices (which DELs get the namespace, idempotence) with a recording
client, and the iptables-restore lines of the ipMasq sweep; no root, no plugin runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rkt.net import pod as net_pod
from rkt.net.cni import Attachment
from rkt.net.config import parse_network
from rkt.net.result import parse_result

RESULT = {"cniVersion": "1.0.0", "ips": [{"address": "10.9.0.5/24"}]}


def network(name: str, *kinds: str) -> Any:
    plugins = [{"type": k, "ipam": {"type": "host-local"}} for k in kinds]
    doc = {"cniVersion": "1.0.0", "name": name, "plugins": plugins}
    return parse_network(json.dumps(doc).encode(), f"/x/{name}.conflist")


class Recorder:
    """The two calls teardown makes on a cni.Client; DEL succeeds and forgets the entry."""

    def __init__(self, entries: list[Attachment]) -> None:
        self.entries = entries
        self.deleted: list[tuple[str, str]] = []

    def attachments(self, container_id: str) -> list[Attachment]:
        return [e for e in self.entries if e.container_id == container_id]

    def delete(self, network: Any, cid: str, netns: str, ifname: str, args: str = "") -> None:
        self.deleted.append((network.name, netns))
        self.entries = [e for e in self.entries if e.network.name != network.name]


def attach(net: Any, seq: int) -> Attachment:
    return Attachment(net, "u", f"eth{seq}", "/old/netns", "", seq, parse_result(RESULT))


def test_netns_given_only_to_plugins_that_need_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(net_pod.netns, "is_netns", lambda path: True)
    removed: list[Path] = []
    monkeypatch.setattr(net_pod.netns, "remove", removed.append)
    plain = network("plain", "ptp", "portmap")
    other = network("other", "macvlan")
    client = Recorder([attach(plain, 0), attach(other, 1)])
    assert net_pod.teardown(tmp_path, "u", client) == []  # type: ignore[arg-type]
    # Newest first; only macvlan (not known to need nothing of the netns) is given its path.
    assert client.deleted == [("other", str(tmp_path / "netns")), ("plain", "")]
    assert removed == [tmp_path / "netns"]


def test_teardown_twice_deletes_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(net_pod.netns, "remove", lambda path: None)
    client = Recorder([attach(network("plain", "ptp"), 0)])
    for _ in range(2):
        assert net_pod.teardown(tmp_path, "u", client) == []  # type: ignore[arg-type]
    assert client.deleted == [("plain", "")]


def test_needs_teardown(tmp_path: Path) -> None:
    assert not net_pod.needs_teardown(tmp_path)
    cache = tmp_path / net_pod.CACHE_DIR
    cache.mkdir(parents=True)
    assert not net_pod.needs_teardown(tmp_path)
    (cache / "default-u-eth0.json").write_text("{}")
    assert net_pod.needs_teardown(tmp_path)
    (cache / "default-u-eth0.json").unlink()
    (tmp_path / net_pod.NETNS).touch()
    assert net_pod.needs_teardown(tmp_path)
