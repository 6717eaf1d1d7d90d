"""What stage0 and stage1 ask of a pod's saved networks without the CNI client: whether their
ADD results could carry DNS (stage1 then plans only once they are up), and load's answer."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from rkt.net.cni import Attachment, Client
from rkt.net.config import parse_network
from rkt.net.files import CACHE_DIR, CONF_DIR, NETWORKS_FILE, may_return_dns
from rkt.net.result import parse_result
from rkt.pod import layout
from rkt.pod.layout import OPTIONS as OPTIONS_FILE
from rkt.stage1.interface import OPTIONS_VERSION
from rkt.stage1.planner.load import app_root, load

UUID = "0f0e0d0c-0b0a-4908-8706-050403020100"
PTP: dict[str, Any] = {
    "cniVersion": "1.0.0",
    "name": "n",
    "type": "ptp",
    "ipMasq": True,
    "ipam": {"type": "host-local", "subnet": "10.1.2.0/24"},
}


def save(pod_dir: Path, *docs: dict[str, Any]) -> None:
    """The networks as rkt.net.selection.save_selection leaves them."""
    conf = pod_dir / CONF_DIR
    conf.mkdir(parents=True, exist_ok=True)
    entries = []
    for index, doc in enumerate(docs):
        suffix = ".conflist" if "plugins" in doc else ".conf"
        name = f"{index:02d}-{doc['name']}{suffix}"
        (conf / name).write_text(json.dumps(doc))
        entries.append({"name": doc["name"], "conf": f"{CONF_DIR}/{name}", "args": ""})
    (pod_dir / NETWORKS_FILE).write_text(json.dumps(entries))


def with_(base: dict[str, Any], **changes: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(base))
    doc.update(changes)
    return doc


@pytest.mark.parametrize(
    ("docs", "expected"),
    [
        ([PTP], False),  # rkt's built-in default
        ([with_(PTP, type="bridge", bridge="br0")], False),
        (
            [
                {
                    "cniVersion": "1.0.0",
                    "name": "l",
                    "plugins": [
                        with_(PTP, name=None),
                        {"type": "portmap", "capabilities": {"portMappings": True}},
                    ],
                }
            ],
            False,
        ),
        ([with_(PTP, ipam={"type": "static", "addresses": [{"address": "10.1.2.3/24"}]})], False),
        ([PTP, with_(PTP, name="m", dns={"nameservers": ["10.0.0.53"]})], True),
        (
            [
                with_(
                    PTP,
                    ipam={
                        "type": "host-local",
                        "subnet": "10.1.2.0/24",
                        "resolvConf": "/etc/resolv.conf",
                    },
                )
            ],
            True,
        ),
        ([with_(PTP, ipam={"type": "static", "dns": {"nameservers": ["10.0.0.53"]}})], True),
        ([with_(PTP, ipam={"type": "dhcp"})], True),
        ([with_(PTP, type="someones-plugin")], True),
        ([{"cniVersion": "1.0.0", "name": "l", "plugins": [PTP, {"type": "tuning"}, "bad"]}], True),
    ],
)
def test_may_return_dns(tmp_path: Path, docs: list[dict[str, Any]], expected: bool) -> None:
    save(tmp_path, *docs)
    assert may_return_dns(tmp_path) is expected


def test_unreadable_configurations_may_return_dns(tmp_path: Path) -> None:
    assert may_return_dns(tmp_path)  # no networks.json at all
    save(tmp_path, PTP)
    assert not may_return_dns(tmp_path)
    # A configuration no longer listed (run-prepared chose other networks) does not count.
    (tmp_path / CONF_DIR / "05-old.conf").write_text(json.dumps(with_(PTP, type="dhcp")))
    assert not may_return_dns(tmp_path)
    (tmp_path / CONF_DIR / "00-n.conf").write_text("{")
    assert may_return_dns(tmp_path)
    (tmp_path / NETWORKS_FILE).write_text('[{"conf": "../../etc/x.conf"}]')
    assert may_return_dns(tmp_path)


def pod_dir(tmp_path: Path, network: dict[str, Any], options: dict[str, Any]) -> Path:
    """A pod directory as stage0 leaves it for stage1, with one CNI network saved."""
    top = tmp_path / UUID
    manifest = {
        "acVersion": "0.8.11",
        "acKind": "PodManifest",
        "apps": [{"name": "a", "image": {"name": "example.com/a", "id": "sha512-" + "b" * 64}}],
    }
    image = {
        "acVersion": "0.8.11",
        "acKind": "ImageManifest",
        "name": "example.com/a",
        "app": {"exec": ["/bin/true"], "user": "0", "group": "0"},
    }
    (top / layout.app_image_manifest("a")).parent.mkdir(parents=True)
    (top / layout.app_image_manifest("a")).write_text(json.dumps(image))
    (top / layout.MANIFEST).write_text(json.dumps(manifest))
    Path(app_root(str(top), "a")).mkdir(parents=True)
    raw = {"version": OPTIONS_VERSION, "net": network["name"], "netns": "netns", "options": options}
    (top / OPTIONS_FILE).parent.mkdir(parents=True, exist_ok=True)
    (top / OPTIONS_FILE).write_text(json.dumps(raw))
    save(top, network)
    return top


def test_load_before_the_networks_are_up(tmp_path: Path) -> None:
    """stage1 loads while stage0 ADDs: only a network that may return DNS, with no --dns flag,
    makes it wait (and load again); the DNS of its result is the pod's once it is up."""
    plain = load(str(pod_dir(tmp_path / "a", PTP, {})), networks_up=False)
    assert not plain.needs_networks and plain.netns.endswith("/netns")
    assert plain.input.options.netns_joined and plain.input.options.dns == ()

    with_dns = with_(PTP, dns={"nameservers": ["10.0.0.53"], "search": ["example.test"]})
    top = pod_dir(tmp_path / "b", with_dns, {})
    assert load(str(top), networks_up=False).needs_networks
    result = parse_result(
        {"cniVersion": "1.0.0", "ips": [{"address": "10.1.2.3/24"}], "dns": with_dns["dns"]}
    )
    network = parse_network(json.dumps(with_dns).encode(), "00-n.conf")
    Client(top / CACHE_DIR)._write_cache(
        Attachment(network, UUID, "eth0", str(top / "netns"), "", 0, result)
    )
    loaded = load(str(top))
    assert not loaded.needs_networks
    assert loaded.input.options.dns == ("10.0.0.53",)
    assert loaded.input.options.dns_search == ("example.test",)

    flagged = load(str(pod_dir(tmp_path / "c", with_dns, {"dns": ["10.9.9.9"]})), networks_up=False)
    assert not flagged.needs_networks and flagged.input.options.dns == ("10.9.9.9",)
