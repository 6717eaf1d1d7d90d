"""Helpers for the service tests: a pod network of the test's own, and the services started with
their sockets handed over as systemd does (``LISTEN_FDS``/``LISTEN_PID``, descriptors from 3).

The launcher is a few lines of Python run as the service's own process: it moves the inherited
sockets to descriptors 3, 4, … and execs the service with ``LISTEN_PID`` set to its own pid,
which exec keeps, exactly as systemd's socket units (and ``systemd-socket-activate``) do.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from tests.integration.podkit import RKT

LAUNCHER = """
import os, sys
fds = [int(x) for x in sys.argv[1].split(",")]
for index, fd in enumerate(fds):
    os.dup2(fd, 3 + index)  # dup2 clears close-on-exec on the new descriptor
for fd in fds:
    if fd >= 3 + len(fds):
        os.close(fd)
os.environ["LISTEN_FDS"] = str(len(fds))
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[2], sys.argv[2:])
"""
IP_FREEBIND = 15


def free_subnet() -> ipaddress.IPv4Network:
    """A /24 in 172.29.0.0/16 that no host address or route uses (as test_run_net picks)."""
    used = (
        subprocess.run(
            ["ip", "-4", "-o", "addr"], capture_output=True, text=True, check=True
        ).stdout
        + subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    )
    for _ in range(100):
        net = ipaddress.IPv4Network(f"172.29.{random.randrange(256)}.0/24")
        if str(net.network_address).rpartition(".")[0] + "." not in used:
            return net
    raise RuntimeError("no free test subnet in 172.29.0.0/16")


def gateway(net: ipaddress.IPv4Network) -> str:
    return str(net.network_address + 1)  # host-local's default gateway


def write_network(etc: Path, name: str, net: ipaddress.IPv4Network, leases: Path) -> None:
    """A ptp network with host-local addresses, no NAT (the host's iptables stay untouched)."""
    (etc / "net.d").mkdir(parents=True, exist_ok=True)
    doc = {
        "cniVersion": "1.0.0",
        "name": name,
        "type": "ptp",
        "ipMasq": False,
        "ipam": {
            "type": "host-local",
            "subnet": str(net),
            "dataDir": str(leases),
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }
    (etc / "net.d" / f"10-{name}.conf").write_text(json.dumps(doc))


def remove_veths(address: str) -> None:
    """Host ends of ptp veths left with ``address`` (deleting one end deletes the pair)."""
    done = subprocess.run(
        ["ip", "-4", "-o", "addr", "show", "to", f"{address}/32"],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        subprocess.run(["ip", "link", "del", line.split()[1].partition("@")[0]], check=False)


def tcp_listener(address: str) -> socket.socket:
    """A listening TCP socket on ``address``, a free port; ``IP_FREEBIND`` lets it name a pod
    network's gateway before the network's first pod puts the address on the host."""
    sock = socket.socket(socket.AF_INET6 if ":" in address else socket.AF_INET)
    sock.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    sock.bind((address, 0))
    sock.listen(64)
    return sock


def unix_listener(path: Path) -> socket.socket:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    sock.listen(64)
    return sock


class Service:
    """``rkt <verb>`` as a process of its own, its stderr in a file; stopped by SIGTERM."""

    def __init__(
        self,
        args: Sequence[str],
        log: Path,
        *,
        sockets: Sequence[socket.socket] = (),
        env: dict[str, str] | None = None,
    ) -> None:
        self.log = log
        command = [*RKT, *args]
        if sockets:
            fds = ",".join(str(s.fileno()) for s in sockets)
            command = [sys.executable, "-c", LAUNCHER, fds, *command]
        with log.open("w") as out:
            self.proc = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                pass_fds=[s.fileno() for s in sockets],
                env=env,
            )
        for sock in sockets:
            sock.close()  # the service has them now

    def text(self) -> str:
        return self.log.read_text()

    def wait_for(self, check: Callable[[], bool], what: str, timeout: float = 30) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            if self.proc.poll() is not None:
                raise AssertionError(f"the service exited ({self.proc.returncode}): {self.text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}: {self.text()}")
            time.sleep(0.05)

    def wait_running(self) -> None:
        self.wait_for(lambda: "running on" in self.text(), "the service to run")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(30)


def reachable(path: Path) -> bool:
    with contextlib.closing(socket.socket(socket.AF_UNIX)) as sock:
        try:
            sock.connect(str(path))
        except OSError:
            return False
    return True


def environment(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(extra)
    return env
