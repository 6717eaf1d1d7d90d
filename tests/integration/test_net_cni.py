"""rkt.net with Debian's real CNI plugins (/usr/lib/cni), as root, in namespaces of our own.

Every address used is inside the namespaces this test creates; the networks get unique names,
unused subnets and a host-local dataDir under tmp_path, so nothing touches /var/lib/cni or a
real pod's network, and the test checks that nothing (veth, lease, iptables rule) is left.
"""

from __future__ import annotations

import ipaddress
import json
import os
import random
import shlex
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from rkt.net import netns
from rkt.net.cni import Client
from rkt.net.config import BUILTIN_DEFAULT, BUILTIN_DEFAULT_RESTRICTED, parse_network

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="network namespaces need root"),
    pytest.mark.skipif(
        not all(shutil.which(t) for t in ("nsenter", "ip", "iptables"))
        or not Path("/usr/lib/cni/ptp").exists(),
        reason="needs containernetworking-plugins, iproute2, iptables, util-linux",
    ),
]


def run(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True).stdout


def free_subnet(prefix: str) -> str:
    """A /24 under ``prefix`` (e.g. "172.29") that no host route overlaps."""
    routes = [
        ipaddress.ip_network(r.split()[0])
        for r in run("ip", "-4", "route").splitlines()
        if r.split()[0] != "default" and "/" in r.split()[0]
    ]
    for _ in range(50):
        net = ipaddress.ip_network(f"{prefix}.{random.randrange(1, 255)}.0/24")
        if not any(net.overlaps(r) for r in routes):
            return str(net)
    pytest.skip("no free test subnet")


def network(base: dict[str, object], name: str, data_dir: Path, subnet: str) -> bytes:
    doc = json.loads(json.dumps(dict(base)))
    doc["name"] = name
    doc["ipam"]["subnet"] = subnet
    doc["ipam"]["dataDir"] = str(data_dir)
    return json.dumps(doc).encode()


def reachable(ns_from: Path, ns_to: Path, ip: str) -> bool:
    """A TCP connection from one namespace to a listener in the other (no ping on Debian's
    minimal images; this is as good a proof of routing, and stays inside the namespaces)."""
    server = subprocess.Popen(
        [
            "nsenter",
            f"--net={ns_to}",
            sys.executable,
            "-c",
            "import socket,sys;s=socket.socket();s.bind((sys.argv[1],7777));s.listen();"
            "print('up',flush=True);c,_=s.accept();c.sendall(b'pong')",
            ip,
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "up"
        client = subprocess.run(
            [
                "nsenter",
                f"--net={ns_from}",
                sys.executable,
                "-c",
                "import socket,sys;print(socket.create_connection((sys.argv[1],7777),2).recv(4))",
                ip,
            ],
            capture_output=True,
            text=True,
            timeout=10,
        )
        return "pong" in client.stdout
    finally:
        server.kill()
        server.wait()


def test_default_networks_between_two_namespaces(tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    data_dir = tmp_path / "ipam"
    default_subnet, restricted_subnet = free_subnet("172.29"), free_subnet("172.30")
    default = parse_network(
        network(BUILTIN_DEFAULT, f"rkt-test-{tag}", data_dir, default_subnet), "/t/d.conf"
    )
    restricted = parse_network(
        network(BUILTIN_DEFAULT_RESTRICTED, f"rkt-test-r-{tag}", data_dir, restricted_subnet),
        "/t/r.conf",
    )
    client = Client(tmp_path / "cache")
    links_before = run("ip", "-o", "link").count("veth")
    ns = [netns.create(tmp_path / f"netns-{i}") for i in (0, 1)]
    ids = [f"{tag}-{i}" for i in (0, 1)]
    try:
        assert all(netns.is_netns(p) for p in ns)
        ips = []
        for path, cid in zip(ns, ids, strict=True):
            result = client.add(default, cid, str(path), "eth0", "IgnoreUnknown=1")
            client.add(restricted, cid, str(path), "eth1")
            client.check(default, cid, str(path), "eth0")
            ips.append(str(result.pod_ips()[0].address.ip))
        assert ipaddress.ip_address(ips[0]) in ipaddress.ip_network(default_subnet)
        assert reachable(ns[0], ns[1], ips[1])
        routes = run("nsenter", f"--net={ns[0]}", "ip", "-4", "route")
        defaults = [r for r in routes.splitlines() if r.startswith("default")]
        assert len(defaults) == 1 and "dev eth0" in defaults[0]  # none via eth1 (restricted)
        assert default.name in run("iptables", "-t", "nat", "-S")
        assert len(list((data_dir / default.name).glob("172.*"))) == 2
    finally:
        for cid in ids:
            assert client.teardown(cid) == []
        for path in ns:
            netns.remove(path)
    assert not any(p.exists() for p in ns)
    assert run("ip", "-o", "link").count("veth") == links_before
    for name in (default.name, restricted.name):
        assert not list((data_dir / name).glob("172.*")), "leases left"
    nat = run("iptables", "-t", "nat", "-S")
    for needle in (default.name, restricted.name, default_subnet, restricted_subnet):
        assert needle not in nat
    assert not list((tmp_path / "cache").glob("*.json"))


@pytest.mark.xfail(
    strict=True,
    reason="ptp 1.1.1 tears down its MASQUERADE rules only from addresses it finds in the netns; "
    "with the netns gone they leak (rkt.net needs an ipMasq sweep from the cached result)",
)
def test_del_after_netns_vanished(tmp_path: Path) -> None:
    """A crash: the namespace is gone before DEL. The lease and NAT rules must still go."""
    tag = uuid.uuid4().hex[:8]
    data_dir = tmp_path / "ipam"
    subnet = free_subnet("172.29")
    default = parse_network(network(BUILTIN_DEFAULT, f"rkt-test-{tag}", data_dir, subnet), "/t/d")
    client = Client(tmp_path / "cache")
    path = netns.create(tmp_path / "netns")
    client.add(default, tag, str(path), "eth0")
    netns.remove(path)
    assert not netns.is_netns(path)
    assert client.teardown(tag) == []
    assert not list((data_dir / default.name).glob("172.*")), "lease left"
    nat = run("iptables", "-t", "nat", "-S")
    leaked = [line for line in nat.splitlines() if default.name in line]
    for line in leaked:  # clean up after the plugin, so the host stays as it was
        if line.startswith("-A POSTROUTING"):
            subprocess.run(["iptables", "-t", "nat", "-D", *shlex.split(line)[1:]], check=False)
    for chain in {line.split()[1] for line in leaked if line.startswith("-A CNI-")}:
        subprocess.run(["iptables", "-t", "nat", "-F", chain], check=False)
        subprocess.run(["iptables", "-t", "nat", "-X", chain], check=False)
    assert not leaked, nat
