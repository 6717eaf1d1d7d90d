"""``rkt run --net=<CNI networks>`` end to end, as root: user networks from ``net.d`` (ptp or
bridge, and host-local, random 172.2[79].x.0/24 and 172.30.x.0/24, leases under tmp_path, no
ipMasq so the host's iptables stay untouched), pod-to-pod and pod-to-host traffic,
``rkt list``/``status``, and gc leaving no veth, lease, netns file or mount behind, also after
SIGKILL of ``rkt run``.

All traffic stays between the pods' namespaces and the host ends of their veths.
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
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration import podkit
from tests.integration.podkit import RKT, mounts_under, rkt

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
]

TIMEOUT = 60
NET_APPLETS = ("ip", "ifconfig", "nc", "route")


def _host_text() -> str:
    done = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True)
    routes = subprocess.run(["ip", "-4", "route"], capture_output=True, text=True, check=True)
    return done.stdout + routes.stdout


def _subnet(second_octet: int) -> ipaddress.IPv4Network:
    used = _host_text()
    for _ in range(100):
        net = ipaddress.IPv4Network(f"172.{second_octet}.{random.randrange(256)}.0/24")
        prefix = str(net.network_address).rpartition(".")[0] + "."
        if prefix not in used:
            return net
    pytest.skip("no free test subnet")


def _gateway(net: ipaddress.IPv4Network) -> str:
    return str(net.network_address + 1)  # host-local's default gateway: the first address


def _devices_with(address: str) -> list[str]:
    """Host interfaces carrying ``address`` (the host ends of the pods' ptp veths)."""
    done = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "to", f"{address}/32"],
        capture_output=True,
        text=True,
        check=False,
    )
    return [line.split()[1].partition("@")[0] for line in done.stdout.splitlines() if line]


def _leases(data_dir: Path) -> list[str]:
    """host-local's lease files: one per address, named after it."""
    if not data_dir.exists():
        return []
    found = []
    for path in data_dir.rglob("*"):
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(path.name)
            found.append(str(path))
    return found


@dataclass
class Env:
    tmp: Path
    data: Path
    etc: Path
    leases: Path
    net: ipaddress.IPv4Network
    restricted: ipaddress.IPv4Network
    aci: Path
    procs: list[subprocess.Popen[str]]

    def rkt(self, *args: str, timeout: float = TIMEOUT) -> subprocess.CompletedProcess[str]:
        return rkt(self.data, f"--local-config={self.etc}", *args, timeout=timeout)

    def run(self, net: str, *words: str) -> subprocess.CompletedProcess[str]:
        return self.rkt("--insecure-options=image", "run", f"--net={net}", str(self.aci), *words)

    def start(self, net: str, uuid_file: Path, out: Path, *words: str) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [*RKT, f"--dir={self.data}", f"--local-config={self.etc}",
             "--insecure-options=image", "run", f"--net={net}", str(self.aci), *words,
             f"--uuid-file-save={uuid_file}"],
            stdout=out.open("w"), stderr=subprocess.STDOUT, text=True, start_new_session=True,
        )  # fmt: skip
        self.procs.append(proc)
        return proc


def _network(name: str, subnet: ipaddress.IPv4Network, leases: Path, *, default: bool) -> str:
    ipam: dict[str, object] = {"type": "host-local", "subnet": str(subnet), "dataDir": str(leases)}
    if default:
        ipam["routes"] = [{"dst": "0.0.0.0/0"}]
    doc = {
        "cniVersion": "1.0.0",
        "name": name,
        "type": "ptp",
        "ipMasq": False,
        "ipam": ipam,
        "dns": {"nameservers": ["127.0.0.53"], "search": ["rkt.test"]},
    }
    return json.dumps(doc)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    net, restricted = _subnet(29), _subnet(30)
    etc = tmp_path / "etc"
    (etc / "net.d").mkdir(parents=True)
    leases = tmp_path / "leases"
    (etc / "net.d/10-test.conf").write_text(_network("test", net, leases, default=True))
    (etc / "net.d/20-test-restricted.conf").write_text(
        _network("test-restricted", restricted, leases, default=False)
    )
    base = podkit.make_base_rootfs(tmp_path / "base")
    for applet in NET_APPLETS:
        (base / "bin" / applet).symlink_to("busybox")
    aci = podkit.make_image(base, tmp_path, "netbox", {"exec": ["/bin/sh", "-c", "true"]})
    found = Env(tmp_path, tmp_path / "data", etc, leases, net, restricted, aci, [])
    try:
        yield found
    finally:
        for proc in found.procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(30)
        podkit.cleanup(found.data, tmp_path)  # gc twice: CNI DEL, netns removal, unmounts
        # Whatever gc could not remove: the host ends of the veths (deleting one end deletes
        # the pair) and any netns or overlay mount under tmp_path.
        for subnet in (net, restricted):
            for device in _devices_with(_gateway(subnet)):
                subprocess.run(["ip", "link", "del", device], check=False)


def _wait_running(env: Env, uuid_file: Path, out: Path) -> str:
    deadline = time.monotonic() + TIMEOUT
    while True:
        if uuid_file.exists() and (uuid := uuid_file.read_text().strip()):
            status = env.rkt("status", uuid)
            if "state=running" in status.stdout and "READY" in out.read_text():
                return uuid
        assert time.monotonic() < deadline, out.read_text()
        time.sleep(0.1)


def _eventually(check: Callable[[], bool], timeout: float = 5.0) -> bool:
    """``check`` becomes true within ``timeout`` s: the kernel destroys a namespace (and the
    veth pair in it) asynchronously once its file is unmounted."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def _pod_ip(env: Env, uuid: str, network: str) -> str:
    status = env.rkt("status", uuid).stdout
    found = re.search(rf"networks={re.escape(network)}:ip4=([0-9.]+)", status)
    assert found, status
    return found.group(1)


def test_two_pods_on_a_user_network(env: Env) -> None:
    gateway = _gateway(env.net)
    uuid_file, out = env.tmp / "a.uuid", env.tmp / "a.out"
    script = (
        "ip -4 -o addr show dev eth0; ip -o link show dev lo; echo READY; "
        "exec nc -ll -p 8080 -e echo hi"
    )
    proc = env.start("test", uuid_file, out, "--exec=/bin/sh", "--", "-c", script, "---")
    uuid_a = _wait_running(env, uuid_file, out)
    ip_a = _pod_ip(env, uuid_a, "test")
    assert ipaddress.ip_address(ip_a) in env.net
    text_a = out.read_text()
    assert f"inet {ip_a}/24" in text_a and ",UP" in text_a.split("lo:")[1].split("\n")[0]

    # rkt list shows the network and address of a running pod; net-info.json is rkt's shape.
    listed = env.rkt("list", "--full").stdout
    assert f"test:ip4={ip_a}" in listed, listed
    pod_dir = env.data / "pods/run" / uuid_a
    info = json.loads((pod_dir / "net-info.json").read_text())
    assert [(n["netName"], n["ifName"], n["ip"], n["mask"]) for n in info] == [
        ("test", "eth0", ip_a, "255.255.255.0")
    ]
    assert (pod_dir / "netns").exists()

    server = podkit.HostServer(gateway)
    try:
        script_b = (
            "ip -4 -o addr show dev eth0; ip route; cat /etc/resolv.conf; echo ==A==; "
            f"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 3 {ip_a} 8080 </dev/null && break; "
            "sleep 0.3; done; echo ==HOST==; "
            f"nc -w 3 {gateway} {server.port} </dev/null"
        )
        done = env.run("test", "--exec=/bin/sh", "--", "-c", script_b, "---")
    finally:
        server.close()
    assert done.returncode == 0, done.stderr
    before_a, _, rest = done.stdout.partition("==A==")
    from_a, _, from_host = rest.partition("==HOST==")
    ip_b = re.search(r"inet ([0-9.]+)/24", before_a)
    assert ip_b and ipaddress.ip_address(ip_b.group(1)) in env.net and ip_b.group(1) != ip_a
    assert f"default via {gateway}" in before_a
    assert "nameserver 127.0.0.53" in before_a and "search rkt.test" in before_a
    assert from_a.split() == ["hi"], done.stdout
    assert from_host.split() == ["from-host"], done.stdout
    assert server.peers == [ip_b.group(1)]

    # SIGKILL rkt run, stage1 and pod A at once; gc must still DEL its network.
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(30)
    for _ in range(2):
        assert env.rkt("gc", "--grace-period=0s").returncode == 0
    assert env.rkt("list", "--no-legend").stdout.strip() == ""
    assert _devices_with(gateway) == []
    assert _leases(env.leases) == []
    assert not any((env.data / "pods").rglob("netns"))
    assert mounts_under(env.tmp) == []


def test_restricted_network_has_no_default_route(env: Env) -> None:
    script = "ip route; ip -o link show dev lo; ip -4 -o addr show dev eth0"
    done = env.run("test-restricted", "--exec=/bin/sh", "--", "-c", script, "---")
    assert done.returncode == 0, done.stderr
    assert "default" not in done.stdout
    assert str(env.restricted) in done.stdout  # the subnet route via the host end of the veth
    assert ",UP" in done.stdout.split("lo:")[1].split("\n")[0]
    found = re.search(r"inet ([0-9.]+)/24", done.stdout)
    assert found and ipaddress.ip_address(found.group(1)) in env.restricted
    # Exited, the pod has already given its network back: rkt run tore it down at exit.
    assert _leases(env.leases) == []
    assert _eventually(lambda: _devices_with(_gateway(env.restricted)) == [])
    for _ in range(2):
        assert env.rkt("gc", "--grace-period=0s").returncode == 0
    assert _leases(env.leases) == []
    assert _devices_with(_gateway(env.restricted)) == []
    assert not (env.data / "pods").exists() or not any((env.data / "pods").rglob("netns"))
    assert mounts_under(env.tmp) == []


def test_unknown_network_is_refused_before_any_pod(env: Env) -> None:
    done = env.run("nosuchnet")
    assert done.returncode == 254 and "nosuchnet" in done.stderr
    assert not (env.data / "pods").exists() or not any((env.data / "pods").iterdir())


def test_net_args_reach_the_plugin(env: Env) -> None:
    """``--net=name:K=V``: CNI_ARGS; host-local honours ``IP=`` (with IgnoreUnknown)."""
    wanted = str(env.net.network_address + 77)
    done = env.run(
        f"test:IgnoreUnknown=1;IP={wanted}",
        "--exec=/bin/sh", "--", "-c", "ip -4 -o addr show dev eth0", "---",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert f"inet {wanted}/24" in done.stdout
    for _ in range(2):
        env.rkt("gc", "--grace-period=0s")
    assert _leases(env.leases) == []


def _nat_rules_of(uuid: str) -> list[str]:
    done = subprocess.run(
        ["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True
    )
    return [line for line in done.stdout.splitlines() if uuid in line]


def _default_leases_of(uuid: str) -> list[Path]:
    folder = Path("/var/lib/cni/networks/default")
    if not folder.is_dir():
        return []
    return [p for p in folder.iterdir() if p.is_file() and uuid in p.read_text(errors="replace")]


def _start_and_kill_stage0(env: Env, net: str, name: str) -> tuple[str, subprocess.Popen[str]]:
    """A pod sleeping on ``net`` whose ``rkt run`` (stage0) was SIGKILLed: stage1 (a fork of
    it) and the pod run on, and nobody is left to tear the network down when they exit."""
    uuid_file, out = env.tmp / f"{name}.uuid", env.tmp / f"{name}.out"
    script = "ip -4 -o addr show dev eth0; echo READY; exec sleep 60"
    proc = env.start(net, uuid_file, out, "--exec=/bin/sh", "--", "-c", script, "---")
    uuid = _wait_running(env, uuid_file, out)
    os.kill(proc.pid, signal.SIGKILL)  # stage0 only, not its process group
    proc.wait(30)
    assert "state=running" in env.rkt("status", uuid).stdout
    return uuid, proc


def test_stop_tears_down_when_run_was_killed(env: Env) -> None:
    """``rkt stop`` waits for the pod to exit and DELs its network when stage0 cannot; gc
    afterwards finds nothing left to DEL and does not fail."""
    uuid, _ = _start_and_kill_stage0(env, "test", "a")
    pod_dir = env.data / "pods/run" / uuid
    assert len(_leases(env.leases)) == 1 and (pod_dir / "netns").exists()
    done = env.rkt("stop", uuid)
    assert done.returncode == 0 and done.stdout.strip() == f'"{uuid}"', done.stderr
    # When stop returns the pod has exited and its network is gone, net-info.json kept.
    assert "state=exited" in env.rkt("status", uuid).stdout
    assert _leases(env.leases) == []
    assert not (pod_dir / "netns").exists()
    assert not list((pod_dir / "net/cache").glob("*.json"))
    assert json.loads((pod_dir / "net-info.json").read_text())[0]["netName"] == "test"
    assert _eventually(lambda: _devices_with(_gateway(env.net)) == [])
    for _ in range(2):
        gc = env.rkt("gc", "--grace-period=0s")
        assert gc.returncode == 0 and "problem" not in gc.stderr, gc.stderr
    assert env.rkt("list", "--no-legend").stdout.strip() == ""
    assert mounts_under(env.tmp) == []


def test_stop_waits_for_run_own_teardown(env: Env) -> None:
    """With ``rkt run`` alive, stage0 tears down when the pod exits, and ``rkt stop`` returns
    once that is done; a second teardown (stop's, then gc's) has nothing left to do."""
    uuid_file, out = env.tmp / "b.uuid", env.tmp / "b.out"
    script = "echo READY; exec sleep 60"
    proc = env.start("test", uuid_file, out, "--exec=/bin/sh", "--", "-c", script, "---")
    uuid = _wait_running(env, uuid_file, out)
    assert len(_leases(env.leases)) == 1
    done = env.rkt("stop", uuid)
    assert done.returncode == 0, done.stderr
    assert _leases(env.leases) == []
    assert not (env.data / "pods/run" / uuid / "netns").exists()
    proc.wait(30)
    assert _eventually(lambda: _devices_with(_gateway(env.net)) == [])
    for _ in range(2):
        gc = env.rkt("gc", "--grace-period=0s")
        assert gc.returncode == 0 and "problem" not in gc.stderr, gc.stderr


def _default_masquerade() -> list[str]:
    """The NAT rules masquerading the built-in default network (rkt.net.masquerade)."""
    done = subprocess.run(
        ["iptables-save", "-t", "nat"], capture_output=True, text=True, check=True
    )
    chains = {line.split()[1] for line in done.stdout.splitlines()
              if 'rkt ipMasq of network \\"default\\"' in line
              and line.split()[1].startswith("RKT-MASQ-")}  # fmt: skip
    return [line for line in done.stdout.splitlines() if any(c in line for c in chains)]


def _release_default() -> None:
    from rkt.net.config import builtin_networks
    from rkt.net.masquerade import release_if_idle, take_over

    network = take_over(builtin_networks()["default"])
    assert network is not None
    release_if_idle(network)


@pytest.mark.skipif(shutil.which("iptables-save") is None, reason="needs iptables")
def test_builtin_default_with_lost_netns_leaks_nothing(env: Env) -> None:
    """The default network (ipMasq, done by rkt per network): nothing of the pod is left even
    when the netns file was lost first: ``rkt run`` is killed, the namespace file unmounted,
    then ``rkt stop`` tears down what is left; gc then removes the network's masquerading,
    which no pod needs any more."""
    uuid_file = env.tmp / "c.uuid"
    try:
        uuid, _ = _start_and_kill_stage0(env, "default", "c")
        assert _default_leases_of(uuid) != []
        assert _nat_rules_of(uuid) == []  # no rule of its own: the network's chain
        assert any("-j MASQUERADE" in rule for rule in _default_masquerade())
        assert "default:ip4=172.16.28." in env.rkt("list").stdout  # running: its networks
        # Lose the namespace, as a careless umount would.
        netns_file = env.data / "pods/run" / uuid / "netns"
        subprocess.run(["umount", "-l", str(netns_file)], check=True)
        done = env.rkt("stop", "--force", uuid)
        assert done.returncode == 0, done.stderr
        assert _default_leases_of(uuid) == []
        assert _default_masquerade() != []  # until gc: removing rules is slow (RCU)
        for _ in range(2):
            assert env.rkt("gc", "--grace-period=0s").returncode == 0
        assert _nat_rules_of(uuid) == []
        if not any(p.name[0].isdigit() for p in Path("/var/lib/cni/networks/default").iterdir()):
            assert _default_masquerade() == []  # no other pod on the host is on the network
        assert mounts_under(env.tmp) == []
    finally:
        if uuid_file.exists():
            uuid = uuid_file.read_text().strip()
            podkit.cleanup(env.data, env.tmp)
            for lease in _default_leases_of(uuid):
                lease.unlink()
            _release_default()


def _outside(name: str) -> tuple[str, str]:
    """A network namespace standing for another host: a veth from the host (10.x.y.1/30) to
    it (10.x.y.2/30), which routes back through the host. The two addresses."""
    third = random.randrange(256)
    host_ip, far_ip = f"10.213.{third}.1", f"10.213.{third}.2"
    host_end = f"rkto{random.randrange(10**6)}"
    commands = [
        ["ip", "netns", "add", name],
        ["ip", "link", "add", host_end, "type", "veth", "peer", "name", "eth0", "netns", name],
        ["ip", "addr", "add", f"{host_ip}/30", "dev", host_end],
        ["ip", "link", "set", host_end, "up"],
        ["ip", "-n", name, "addr", "add", f"{far_ip}/30", "dev", "eth0"],
        ["ip", "-n", name, "link", "set", "eth0", "up"],
        ["ip", "-n", name, "link", "set", "lo", "up"],
        ["ip", "-n", name, "route", "add", "default", "via", host_ip],
    ]
    for command in commands:
        subprocess.run(command, check=True, capture_output=True)
    return host_ip, far_ip


SERVER = r"""
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], 8081))
s.listen()
print("LISTENING", flush=True)
c, peer = s.accept()
c.sendall(b"far-away\n")
print(peer[0], flush=True)
"""


@pytest.mark.skipif(shutil.which("iptables-save") is None, reason="needs iptables")
def test_the_default_network_masquerades_beyond_the_host(env: Env) -> None:
    """A pod on the default network reaches a "host" beyond this one (a namespace of the
    test's, routed through the host) from the host's address, not its own: rkt's per-network
    masquerading works; a second pod reuses the chain."""
    name = f"rkt-far-{random.randrange(10**6)}"
    host_ip, far_ip = _outside(name)
    server = None
    try:
        for attempt in range(2):
            server = subprocess.Popen(
                ["ip", "netns", "exec", name, sys.executable, "-c", SERVER, far_ip],
                stdout=subprocess.PIPE, text=True,
            )  # fmt: skip
            assert server.stdout is not None and server.stdout.readline() == "LISTENING\n"
            done = env.run("default", "--exec=/bin/sh", "--", "-c", f"nc -w 5 {far_ip} 8081", "---")
            assert done.returncode == 0 and done.stdout.split() == ["far-away"], done.stderr
            assert server.stdout.readline().strip() == host_ip  # masqueraded
            server.wait(10)
            rules = _default_masquerade()
            assert sum(r.startswith("-A POSTROUTING") for r in rules) == 1, (attempt, rules)
    finally:
        if server is not None and server.poll() is None:
            server.kill()
        subprocess.run(["ip", "netns", "del", name], check=False)  # the veth goes with it
        podkit.cleanup(env.data, env.tmp)
        _release_default()


@pytest.mark.skipif(not os.access("/usr/lib/cni/bridge", os.X_OK), reason="needs CNI bridge")
def test_two_pods_on_a_user_bridge_network(env: Env) -> None:
    """A bridge network from net.d: two pods on one host bridge reach each other and a server
    on the bridge's host address; gc leaves no veth, lease or netns (the bridge itself is the
    network's, shared by its pods, and stays, as CNI's bridge plugin keeps it)."""
    subnet = _subnet(27)
    bridge = f"rktbr{random.randrange(10**6)}"
    leases = env.tmp / "bridge-leases"
    conf = {
        "cniVersion": "1.0.0",
        "name": "brnet",
        "type": "bridge",
        "bridge": bridge,
        "isGateway": True,
        "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": str(subnet), "dataDir": str(leases)},
    }
    (env.etc / "net.d/30-brnet.conf").write_text(json.dumps(conf))
    gateway = _gateway(subnet)
    try:
        uuid_file, out = env.tmp / "br.uuid", env.tmp / "br.out"
        script = "ip -4 -o addr show dev eth0; echo READY; exec nc -ll -p 8080 -e echo hi"
        proc = env.start("brnet", uuid_file, out, "--exec=/bin/sh", "--", "-c", script, "---")
        uuid_a = _wait_running(env, uuid_file, out)
        ip_a = _pod_ip(env, uuid_a, "brnet")
        assert ipaddress.ip_address(ip_a) in subnet
        # Pod A's veth is enslaved to the bridge, which carries the gateway address.
        links = subprocess.run(
            ["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True
        )
        assert links.stdout.strip(), links.stderr
        server = podkit.HostServer(gateway)
        try:
            script_b = (
                f"for i in 1 2 3 4 5 6 7 8 9 10; do nc -w 3 {ip_a} 8080 </dev/null && break; "
                f"sleep 0.3; done; echo ==HOST==; nc -w 3 {gateway} {server.port} </dev/null"
            )
            done = env.run("brnet", "--exec=/bin/sh", "--", "-c", script_b, "---")
        finally:
            server.close()
        assert done.returncode == 0, done.stderr
        from_a, _, from_host = done.stdout.partition("==HOST==")
        assert from_a.split() == ["hi"], done.stdout
        assert from_host.split() == ["from-host"], done.stdout
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(30)
        for _ in range(2):
            assert env.rkt("gc", "--grace-period=0s").returncode == 0
        assert _leases(leases) == []
        assert not any((env.data / "pods").rglob("netns"))
        ports = subprocess.run(
            ["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True
        )
        assert _eventually(
            lambda: (
                not subprocess.run(
                    ["ip", "-o", "link", "show", "master", bridge], capture_output=True, text=True
                ).stdout.strip()
            )
        ), ports.stdout
    finally:
        subprocess.run(["ip", "link", "del", bridge], capture_output=True, check=False)


def test_a_failed_add_stops_the_run_cleanly(env: Env) -> None:
    """stage1 starts while the networks are ADDed; when the ADD fails, rkt run reports the
    plugin's error alone (exit 254), stage1 gives up without starting anything or leaving a
    cgroup, and gc removes the pod."""
    conf = {"cniVersion": "1.0.0", "name": "broken", "type": "nosuchplugin"}
    (env.etc / "net.d/40-broken.conf").write_text(json.dumps(conf))
    uuid_file = env.tmp / "broken.uuid"
    done = env.run("broken", f"--uuid-file-save={uuid_file}")
    assert done.returncode == 254, done.stdout
    assert "nosuchplugin" in done.stderr and "stage1" not in done.stderr, done.stderr
    uuid = uuid_file.read_text().strip()
    from rkt.linux import cgroup
    from rkt.pod import layout

    pod_dir = next((env.data / "pods").glob(f"*/{uuid}"))
    assert not (pod_dir / "stage1/rootfs/rkt/status").exists()  # no app was started
    recorded = cgroup.load(str(pod_dir / layout.CGROUP_RECORD))
    assert recorded is None or not any(os.path.exists(d) for d in recorded.roots())
    for _ in range(2):
        assert env.rkt("gc", "--grace-period=0s").returncode == 0
    assert env.rkt("list", "--no-legend").stdout.strip() == ""
    assert mounts_under(env.tmp) == []


def test_a_failed_add_while_the_pod_starts(env: Env) -> None:
    """A network whose results carry no DNS (ptp, host-local) is ADDed while stage1 plans and
    starts the pod; if that ADD fails, PID 1 starts no app, rkt run reports the plugin's error
    alone (exit 254), and gc removes the pod."""
    conf = {"cniVersion": "1.0.0", "name": "nosubnet", "type": "ptp",
            "ipam": {"type": "host-local", "dataDir": str(env.leases)}}  # fmt: skip
    (env.etc / "net.d/40-nosubnet.conf").write_text(json.dumps(conf))
    uuid_file = env.tmp / "nosubnet.uuid"
    done = env.run("nosubnet", f"--uuid-file-save={uuid_file}")
    assert done.returncode == 254, done.stdout
    assert "'nosubnet': ADD of plugin 'ptp'" in done.stderr, done.stderr
    assert "stage1" not in done.stderr, done.stderr
    pod_dir = next((env.data / "pods").glob(f"*/{uuid_file.read_text().strip()}"))
    assert not (pod_dir / "stage1/rootfs/rkt/status").exists()  # no app was started
    assert not (pod_dir / "netns").exists()
    for _ in range(2):
        assert env.rkt("gc", "--grace-period=0s").returncode == 0
    assert env.rkt("list", "--no-legend").stdout.strip() == ""
    assert mounts_under(env.tmp) == []
    assert _leases(env.leases) == []


@pytest.mark.skipif(shutil.which("iptables-save") is None, reason="needs iptables")
def test_pods_joining_the_default_network_at_once(env: Env) -> None:
    """Four pods start on the built-in default at the same moment: one makes the network's
    masquerading chain while the others wait for it (no duplicate jump), each gets its own
    address and reaches the host; gc then removes the chain with the last lease."""
    from concurrent.futures import ThreadPoolExecutor

    env.rkt("fetch", "--insecure-options=image", str(env.aci))  # one store write, not four
    script = "ip -4 -o addr show dev eth0; ip route"
    with ThreadPoolExecutor(4) as pool:
        runs = list(pool.map(
            lambda _: env.run("default", "--exec=/bin/sh", "--", "-c", script, "---"), range(4)
        ))  # fmt: skip
    addresses = set()
    for done in runs:
        assert done.returncode == 0, done.stderr
        found = re.search(r"inet (172\.16\.28\.[0-9]+)/24", done.stdout)
        assert found and "default via 172.16.28.1" in done.stdout, done.stdout
        addresses.add(found.group(1))
    assert len(addresses) == 4
    try:
        jumps = [r for r in _default_masquerade() if r.startswith("-A POSTROUTING")]
        assert len(jumps) == 1, jumps
    finally:
        podkit.cleanup(env.data, env.tmp)
    if not any(p.name[0].isdigit() for p in Path("/var/lib/cni/networks/default").iterdir()):
        assert _default_masquerade() == []
