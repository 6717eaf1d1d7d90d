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
