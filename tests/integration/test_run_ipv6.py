"""ICMPv6 between two pods on an isolated dual-stack user network, as root.

The network is a ptp ``.conf`` in a net.d under tmp_path (host-local with a random 172.29.x.0/24
and ``fd00:…/64`` range, leases under tmp_path, no ipMasq); busybox ``ping -6`` goes only from
one pod to the other. Cleanup kills the pods, gc's them, deletes their host veths and restores
IPv6 forwarding (ptp turns it on).
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
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
        not os.access("/usr/lib/cni/ptp", os.X_OK), reason="needs containernetworking-plugins"
    ),
    pytest.mark.skipif(shutil.which("ip") is None, reason="needs iproute2"),
    pytest.mark.skipif(not Path("/proc/sys/net/ipv6").exists(), reason="needs a kernel with IPv6"),
]

TIMEOUT = 60
FORWARDING6 = Path("/proc/sys/net/ipv6/conf/all/forwarding")
WAIT_DAD = (
    "for i in $(seq 1 25); do ip -6 addr show dev eth0 | grep -q tentative || break; "
    "sleep 0.2; done; ip -6 -o addr show dev eth0 scope global; "
)


def _subnet() -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(100):
        net = ipaddress.IPv4Network(f"172.29.{random.randrange(256)}.0/24")
        if str(net.network_address).rpartition(".")[0] + "." not in used:
            return net
    pytest.skip("no free test subnet")


def _devices_with(address: str) -> list[str]:
    done = subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{address}/32"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return [line.split()[1].partition("@")[0] for line in done.stdout.splitlines() if line]


@pytest.fixture
def dual(tmp_path: Path) -> Iterator[tuple[Path, Path, Path, ipaddress.IPv6Network]]:
    """(data dir, local config dir, image, IPv6 range) of a ``v6test`` dual-stack network."""
    net = _subnet()
    net6 = ipaddress.IPv6Network(
        f"fd00:{random.randrange(1, 0xFFFF):x}:{random.randrange(0xFFFF):x}::/64"
    )
    etc = tmp_path / "etc"
    (etc / "net.d").mkdir(parents=True)
    conf = {
        "cniVersion": "1.0.0",
        "name": "v6test",
        "type": "ptp",
        "ipMasq": False,
        "ipam": {
            "type": "host-local",
            "dataDir": str(tmp_path / "leases"),
            "ranges": [[{"subnet": str(net)}], [{"subnet": str(net6)}]],
        },
    }
    (etc / "net.d/10-v6test.conf").write_text(json.dumps(conf))
    base = podkit.make_base_rootfs(tmp_path / "base")
    for applet in ("ip", "ping", "seq"):
        (base / "bin" / applet).symlink_to("busybox")
    aci = podkit.make_image(base, tmp_path, "v6box", {"exec": ["/bin/sh", "-c", "exit 1"]})
    forwarding6 = FORWARDING6.read_text()
    data = tmp_path / "data"
    try:
        yield data, etc, aci, net6
    finally:
        podkit.cleanup(data, tmp_path)
        for device in _devices_with(str(net.network_address + 1)):
            subprocess.run(["ip", "link", "del", device], check=False)
        with contextlib.suppress(OSError):
            FORWARDING6.write_text(forwarding6)


def test_ping6_between_two_pods(dual: tuple[Path, Path, Path, ipaddress.IPv6Network]) -> None:
    data, etc, aci, net6 = dual
    out = data.parent / "a.out"
    words = [f"--dir={data}", f"--local-config={etc}", "--insecure-options=image", "run",
             "--net=v6test", str(aci), "--exec=/bin/sh", "--", "-c",
             f"{WAIT_DAD} echo READY; exec sleep {TIMEOUT}", "---"]  # fmt: skip
    server = subprocess.Popen([*RKT, *words], stdout=out.open("w"), stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    try:
        deadline = time.monotonic() + TIMEOUT
        while "READY" not in out.read_text():
            assert server.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        found = re.search(r"inet6 ([0-9a-f:]+)/64 scope global", out.read_text())
        assert found, out.read_text()
        ip_a = ipaddress.IPv6Address(found.group(1))
        assert ip_a in net6
        script = (
            f"{WAIT_DAD} echo ==PING==; "
            f"for i in 1 2 3 4 5; do ping -6 -c1 -W2 {ip_a} && exit 0; sleep 0.3; done; exit 1"
        )
        done = rkt(data, f"--local-config={etc}", "--insecure-options=image", "run",
                   "--net=v6test", str(aci), "--exec=/bin/sh", "--", "-c", script, "---",
                   timeout=TIMEOUT)  # fmt: skip
        assert done.returncode == 0, (done.stdout, done.stderr)
        mine, _, pinged = done.stdout.partition("==PING==")
        ip_b = re.search(r"inet6 ([0-9a-f:]+)/64 scope global", mine)
        assert ip_b and ipaddress.IPv6Address(ip_b.group(1)) in net6, done.stdout
        assert ipaddress.IPv6Address(ip_b.group(1)) != ip_a
        assert f"from {ip_a}" in pinged and "1 packets received" in pinged, pinged
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)


def _devices_with6(address: str) -> list[str]:
    done = subprocess.run(["ip", "-6", "-o", "addr", "show", "to", f"{address}/128"],
                          capture_output=True, text=True, check=False)  # fmt: skip
    return [line.split()[1].partition("@")[0] for line in done.stdout.splitlines() if line]


def _rules_naming(text: str) -> list[str]:
    found = []
    for tool in ("iptables-save", "ip6tables-save"):
        done = subprocess.run([tool, "-t", "nat"], capture_output=True, text=True, check=False)
        found += [line for line in done.stdout.splitlines() if text in line]
    return found


def _default_leases_naming(uuids: list[str]) -> list[str]:
    folder = Path("/var/lib/cni/networks/default")
    if not folder.is_dir():
        return []
    return [p.name for p in folder.iterdir()
            if p.is_file() and any(u in p.read_text(errors="replace") for u in uuids)]  # fmt: skip


@pytest.mark.skipif(shutil.which("ip6tables-save") is None, reason="needs ip6tables")
def test_dual_stack_builtin_default(tmp_path: Path) -> None:
    """``net.d/default.ipv6`` makes the built-in ``default`` dual-stack: two pods ping each
    other over IPv6, a pod reaches the host end of its veth over IPv6, and after the pods exit
    and gc nothing is left: veth, netns file or mount, v4 and v6 leases, NAT rules."""
    net6 = ipaddress.IPv6Network(
        f"fd00:{random.randrange(1, 0xFFFF):x}:{random.randrange(0xFFFF):x}::/64"
    )
    gateway6 = str(net6.network_address + 1)
    etc = tmp_path / "etc"
    (etc / "net.d").mkdir(parents=True)
    (etc / "net.d/default.ipv6").write_text(f"{net6}\n")
    base = podkit.make_base_rootfs(tmp_path / "base")
    for applet in ("ip", "ping", "seq", "nc"):
        (base / "bin" / applet).symlink_to("busybox")
    aci = podkit.make_image(base, tmp_path, "v6box", {"exec": ["/bin/sh", "-c", "exit 1"]})
    data = tmp_path / "data"
    forwarding6 = FORWARDING6.read_text()
    out = tmp_path / "a.out"
    uuid_a, uuid_b = tmp_path / "a.uuid", tmp_path / "b.uuid"
    words = [f"--dir={data}", f"--local-config={etc}", "--insecure-options=image", "run",
             "--net=default", str(aci), f"--uuid-file-save={uuid_a}", "--exec=/bin/sh", "--",
             "-c", f"{WAIT_DAD} ip -4 -o addr show dev eth0; echo READY; exec sleep {TIMEOUT}",
             "---"]  # fmt: skip
    server = subprocess.Popen([*RKT, *words], stdout=out.open("w"), stderr=subprocess.STDOUT,
                              start_new_session=True)  # fmt: skip
    uuids: list[str] = []
    try:
        deadline = time.monotonic() + TIMEOUT
        while "READY" not in out.read_text():
            assert server.poll() is None, out.read_text()
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        uuids.append(uuid_a.read_text().strip())
        text = out.read_text()
        found = re.search(r"inet6 ([0-9a-f:]+)/64 scope global", text)
        assert found and "inet 172.16.28." in text, text
        ip_a = ipaddress.IPv6Address(found.group(1))
        assert ip_a in net6
        host = podkit.HostServer(gateway6)
        try:
            script = (
                f"{WAIT_DAD} ip -6 route; echo ==PING==; "
                f"for i in 1 2 3 4 5; do ping -6 -c1 -W2 {ip_a} && break; sleep 0.3; done; "
                f"echo ==HOST==; nc -w 3 {gateway6} {host.port} </dev/null"
            )
            done = rkt(data, f"--local-config={etc}", "--insecure-options=image", "run",
                       "--net=default", str(aci), f"--uuid-file-save={uuid_b}",
                       "--exec=/bin/sh", "--", "-c", script, "---", timeout=TIMEOUT)  # fmt: skip
        finally:
            host.close()
        uuids.append(uuid_b.read_text().strip())
        assert done.returncode == 0, (done.stdout, done.stderr)
        mine, _, rest = done.stdout.partition("==PING==")
        pinged, _, from_host = rest.partition("==HOST==")
        ip_b = re.search(r"inet6 ([0-9a-f:]+)/64 scope global", mine)
        assert ip_b and ipaddress.IPv6Address(ip_b.group(1)) in net6, done.stdout
        assert f"default via {gateway6}" in mine, mine
        assert f"from {ip_a}" in pinged and "1 packets received" in pinged, pinged
        assert from_host.split() == ["from-host"], done.stdout
        assert host.peers and ipaddress.IPv6Address(host.peers[0]) == ipaddress.IPv6Address(
            ip_b.group(1)
        )
        masquerading = _rules_naming('rkt ipMasq of network \\"default\\"')
        assert any(f"-s {net6}" in r and r.startswith("-A POSTROUTING") for r in masquerading)
        assert any("-s 172.16.28.0/24" in r for r in masquerading), masquerading
        os.killpg(server.pid, signal.SIGTERM)  # rkt run passes it on; the pod stops
        server.wait(30)
        for _ in range(2):
            gc = rkt(data, "gc", "--grace-period=0s")
            assert gc.returncode == 0, gc.stderr
        deadline = time.monotonic() + 5  # the kernel destroys the namespaces asynchronously
        while _devices_with6(gateway6) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _devices_with6(gateway6) == []
        assert _default_leases_naming(uuids) == []
        assert [r for u in uuids for r in _rules_naming(u)] == []
        leases = Path("/var/lib/cni/networks/default")
        if not any(p.name[0].isdigit() for p in leases.iterdir()):  # no other pod on it
            # The network's masquerading chains, IPv4 and IPv6, went with its last lease.
            assert _rules_naming('rkt ipMasq of network \\"default\\"') == []
        assert podkit.mounts_under(tmp_path) == []
        assert not data.joinpath("pods").exists() or not any(data.joinpath("pods").rglob("netns"))
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(30)
        podkit.cleanup(data, tmp_path)
        for device in _devices_with6(gateway6):
            subprocess.run(["ip", "link", "del", device], check=False)
        with contextlib.suppress(OSError):
            FORWARDING6.write_text(forwarding6)
