"""``rkt run --port=NAME:[HOSTIP:]HOSTPORT`` and dual-stack user networks end to end, as root.

The networks are user networks in an isolated net.d (ptp and host-local, a random
172.29.x.0/24, leases under tmp_path, no ipMasq): ``ptest`` is a conflist with its own portmap,
``ptest6`` a ``.conf`` with an IPv4 and an ``fd00:…/64`` range. The traffic stays between the
host's 127.0.0.1, the host ends of the pods' veths and the pods.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import re
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import RKT, rkt

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(
        not podkit.is_root_with_busybox(), reason="needs root (netns, CNI) and busybox-static"
    ),
    pytest.mark.skipif(
        not os.access("/usr/lib/cni/portmap", os.X_OK), reason="needs containernetworking-plugins"
    ),
    pytest.mark.skipif(
        shutil.which("ip") is None or shutil.which("iptables") is None,
        reason="needs iproute2 and iptables",
    ),
]

TIMEOUT = 60
NET_APPLETS = ("ip", "nc")
SERVE = "exec nc -ll -p 8080 -e echo hi"
FORWARDING6 = Path("/proc/sys/net/ipv6/conf/all/forwarding")


def _subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        net = ipaddress.IPv4Network(f"172.29.{random.randrange(256)}.0/24")
        if str(net.network_address).rpartition(".")[0] + "." not in used:
            return net
    pytest.skip("no free test subnet")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _nat_rules() -> list[str]:
    done = subprocess.run(["iptables", "-w", "5", "-t", "nat", "-S"], capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout.splitlines()


def _rules_mentioning(*words: str) -> list[str]:
    patterns = [re.compile(rf"(?<![0-9.]){re.escape(w)}(?![0-9])") for w in words]
    return [r for r in _nat_rules() if any(p.search(r) for p in patterns)]


def _devices_with(address: str) -> list[str]:
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{address}/32"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return [line.split()[1].partition("@")[0] for line in done.stdout.splitlines() if line]


@dataclass
class Env:
    tmp: Path
    data: Path
    etc: Path
    net: ipaddress.IPv4Network
    net6: ipaddress.IPv6Network
    aci: Path
    procs: list[subprocess.Popen[str]]
    ports: list[int]

    def rkt(self, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        return rkt(self.data, f"--local-config={self.etc}", *args, timeout=timeout)

    def run(self, net: str, *words: str) -> subprocess.CompletedProcess[str]:
        return self.rkt("--insecure-options=image", "run", f"--net={net}", str(self.aci), *words)

    def start(self, name: str, net: str, *words: str) -> tuple[str, Path]:
        """Start a pod in the background; its UUID (once running and READY) and output file."""
        uuid_file, out = self.tmp / f"{name}.uuid", self.tmp / f"{name}.out"
        proc = subprocess.Popen(
            [*RKT, f"--dir={self.data}", f"--local-config={self.etc}",
             "--insecure-options=image", "run", f"--net={net}", str(self.aci), *words,
             f"--uuid-file-save={uuid_file}"],
            stdout=out.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        deadline = time.monotonic() + TIMEOUT
        while True:
            if uuid_file.exists() and (uuid := uuid_file.read_text().strip()):
                status = self.rkt("status", uuid)
                if "state=running" in status.stdout and "READY" in out.read_text():
                    return uuid, out
            assert proc.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)

    def pod_ip(self, uuid: str, network: str) -> str:
        status = self.rkt("status", uuid).stdout
        found = re.search(rf"networks={re.escape(network)}:ip4=([0-9.]+)", status)
        assert found, status
        return found.group(1)

    def gc(self) -> None:
        for proc in self.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        for _ in range(2):
            assert self.rkt("gc", "--grace-period=0s", timeout=120).returncode == 0


def _ptp(
    net: ipaddress.IPv4Network, leases: Path, net6: ipaddress.IPv6Network | None
) -> dict[str, object]:
    ipam: dict[str, object] = {"type": "host-local", "dataDir": str(leases)}
    if net6 is None:
        ipam["subnet"] = str(net)
    else:
        ipam["ranges"] = [[{"subnet": str(net)}], [{"subnet": str(net6)}]]
    return {"type": "ptp", "ipMasq": False, "ipam": ipam}


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    net, net4b = _subnet(), _subnet()
    net6 = ipaddress.IPv6Network(
        f"fd00:{random.randrange(1, 0xFFFF):x}:{random.randrange(0xFFFF):x}::/64"
    )
    etc = tmp_path / "etc"
    (etc / "net.d").mkdir(parents=True)
    leases = tmp_path / "leases"
    conflist = {
        "cniVersion": "1.0.0",
        "name": "ptest",
        "plugins": [
            _ptp(net, leases, None),
            {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}},
        ],
    }
    (etc / "net.d/10-ptest.conflist").write_text(json.dumps(conflist))
    dual = {"cniVersion": "1.0.0", "name": "ptest6", **_ptp(net4b, leases, net6)}
    (etc / "net.d/20-ptest6.conf").write_text(json.dumps(dual))
    base = podkit.make_base_rootfs(tmp_path / "base")
    for applet in NET_APPLETS:
        (base / "bin" / applet).symlink_to("busybox")
    app = {
        "exec": ["/bin/sh", "-c", f"echo READY; {SERVE}"],
        "ports": [{"name": "http", "protocol": "tcp", "port": 8080}],
    }
    aci = podkit.make_image(base, tmp_path, "portbox", app)
    forwarding6 = FORWARDING6.read_text()
    found = Env(tmp_path, tmp_path / "data", etc, net, net6, aci, [], [])
    try:
        yield found
    finally:
        for proc in found.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        podkit.cleanup(found.data, tmp_path)
        for subnet in (net, net4b):
            for device in _devices_with(str(subnet.network_address + 1)):
                subprocess.run(["ip", "link", "del", device], check=False)
        prefixes = [str(s.network_address).rpartition(".")[0] + "." for s in (net, net4b)]
        for rule in _rules_mentioning(*map(str, found.ports)) + [
            r for r in _nat_rules() if any(p in r for p in prefixes)
        ]:
            words = shlex.split(rule)
            if words[:1] == ["-A"]:
                subprocess.run(["iptables", "-w", "5", "-t", "nat", "-D", *words[1:]], check=False)
        with contextlib.suppress(OSError):
            FORWARDING6.write_text(forwarding6)  # ptp turns IPv6 forwarding on


def _ask(host: str, port: int, family: int = socket.AF_INET) -> bytes:
    """Connect (retrying while the pod's listener or the rules come up) and read a line."""
    deadline = time.monotonic() + 15
    while True:
        try:
            with socket.socket(family, socket.SOCK_STREAM) as sock:
                sock.settimeout(3)
                sock.connect((host, port))
                got = sock.recv(64)
                if got:
                    return got
        except OSError:
            if time.monotonic() > deadline:
                raise
        time.sleep(0.2)


def test_port_forwarded_on_localhost_and_removed_by_gc(env: Env) -> None:
    port = _free_port()
    env.ports.append(port)
    uuid, _ = env.start("a", "ptest", f"--port=http:127.0.0.1:{port}")
    ip = env.pod_ip(uuid, "ptest")
    manifest = json.loads(env.rkt("cat-manifest", uuid).stdout)
    assert manifest["ports"] == [
        {
            "name": "http",
            "hostPort": port,
            "hostIP": "127.0.0.1",
            "podPort": {"name": "http", "protocol": "tcp", "port": 8080, "count": 1,
                        "socketActivated": False},
        }
    ]  # fmt: skip
    assert _ask("127.0.0.1", port).strip() == b"hi"
    assert _ask(ip, 8080).strip() == b"hi"  # the pod itself, through the host end of the veth
    assert _rules_mentioning(str(port)) != []
    env.gc()
    assert _rules_mentioning(str(port), ip) == []


def test_port_forwarded_on_every_host_address(env: Env) -> None:
    port = _free_port()
    env.ports.append(port)
    uuid, _ = env.start("b", "ptest", f"--port=http:{port}")
    ip = env.pod_ip(uuid, "ptest")
    gateway = str(env.net.network_address + 1)  # the host end of the pod's veth
    assert _ask(gateway, port).strip() == b"hi"
    assert _ask("127.0.0.1", port).strip() == b"hi"
    env.gc()
    assert _rules_mentioning(str(port), ip) == []


def test_port_appends_portmap_to_a_plain_network(env: Env) -> None:
    """``ptest6`` is a ``.conf`` without portmap: rkt appends it for the pod."""
    port = _free_port()
    env.ports.append(port)
    uuid, _ = env.start("c", "ptest6", f"--port=http:127.0.0.1:{port}")
    ip = env.pod_ip(uuid, "ptest6")
    assert _ask("127.0.0.1", port).strip() == b"hi"
    env.gc()
    assert _rules_mentioning(str(port), ip) == []


def test_bad_ports_are_refused_before_any_pod(env: Env) -> None:
    done = env.run("ptest", "--port=nosuch:18080")
    assert done.returncode == 254, done.stderr
    assert "nosuch" in done.stderr and "http" in done.stderr
    for net in ("none", "host"):
        done = env.run(net, "--port=http:18080")
        assert done.returncode == 254 and f"--net={net}" in done.stderr, done.stderr
    done = env.run("ptest", "--port=http:notaport")
    assert done.returncode == 254 and "NAME:[HOSTIP:]HOSTPORT" in done.stderr
    assert not (env.data / "pods").exists() or not any((env.data / "pods").rglob("*"))


def test_dual_stack_network(env: Env) -> None:
    wait_dad = (
        "for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do "
        "ip -6 addr show dev eth0 | grep -q tentative || break; sleep 0.2; done; "
        "ip -6 -o addr show dev eth0 scope global; "
    )
    _, out = env.start("v6a", "ptest6", "--exec=/bin/sh", "--", "-c",
                       f"{wait_dad} echo READY; {SERVE}", "---")  # fmt: skip
    found = re.search(r"inet6 ([0-9a-f:]+)/64 scope global", out.read_text())
    assert found, out.read_text()
    ip_a = ipaddress.IPv6Address(found.group(1))
    assert ip_a in env.net6
    script = (
        f"{wait_dad} echo ==A==; "
        f"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 3 {ip_a} 8080 </dev/null && break; "
        "sleep 0.3; done"
    )
    done = env.run("ptest6", "--exec=/bin/sh", "--", "-c", script, "---")
    assert done.returncode == 0, done.stderr
    mine, _, answer = done.stdout.partition("==A==")
    ip_b = re.search(r"inet6 ([0-9a-f:]+)/64 scope global", mine)
    assert ip_b and ipaddress.IPv6Address(ip_b.group(1)) in env.net6, done.stdout
    assert ipaddress.IPv6Address(ip_b.group(1)) != ip_a
    assert answer.split() == ["hi"], done.stdout
    # The host reaches the pod over IPv6 too, through the host end of its veth.
    assert _ask(str(ip_a), 8080, socket.AF_INET6).strip() == b"hi"
    env.gc()


def _rules6_mentioning(word: str) -> list[str]:
    done = subprocess.run(["ip6tables", "-w", "5", "-t", "nat", "-S"], capture_output=True,
                          text=True, check=False)  # fmt: skip
    return [r for r in done.stdout.splitlines() if word in r]


@pytest.mark.skipif(shutil.which("ip6tables") is None, reason="needs ip6tables")
def test_port_on_an_ipv6_host_address(env: Env) -> None:
    """``--port=http:[ADDR6]:PORT`` on a dual-stack network: portmap forwards an IPv6 host
    address (here the host end of the pod's veth) to the pod's IPv6 address, with ip6tables
    rules that gc removes. (``[::1]`` does not work: portmap 1.1.1 installs its DNAT rule, but
    IPv6 has no ``route_localnet``, so a packet from the loopback address is never routed out
    to the pod and the connection times out; ``--port=http:PORT`` works over IPv6 too.)"""
    port = _free_port()
    env.ports.append(port)
    gateway6 = str(env.net6.network_address + 1)  # the host end of the pod's veth
    uuid, _ = env.start("v6p", "ptest6", f"--port=http:[{gateway6}]:{port}")
    manifest = json.loads(env.rkt("cat-manifest", uuid).stdout)
    assert manifest["ports"][0]["hostIP"] == gateway6
    assert _ask(gateway6, port, socket.AF_INET6).strip() == b"hi"
    assert _rules6_mentioning(str(port)) != []
    env.gc()
    assert _rules6_mentioning(str(port)) == []
