"""What pods can leave on a host, and a world to run pods in that is the test's own: the
leftovers test, the chaos test and the soak (``bench/soak.py``) share it.

:class:`World` is a data dir, a local config with a private CNI network (ptp, host-local
leases under the world's directory, a random 172.30.x.0/24 no other test uses, per-network
masquerading like the built-in ``default``) and busybox images. :meth:`World.leftovers`
lists what pods of this world left: mounts under the data dir, cgroups named for its pods'
UUIDs (of any data dir: the UUIDs are the world's), the host ends of veths on its subnet,
iptables rules of its network, leases, running pods' processes and lock files; an empty
report means a clean host.

Waits are for a condition, with a deadline (:func:`wait_for`); nothing sleeps for a fixed time.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import random
import re
import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from rkt.linux.mount import MNT_DETACH, umount2
from tests.integration import podkit

#: The ``rkt`` command as users run it (the console script: no ``-m`` start-up), else the module.
_SCRIPT = Path(sys.executable).parent / "rkt"
RKT = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "rkt.cli.main"]
T = TypeVar("T")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def wait_for(condition: Callable[[], T], timeout: float, what: str, step: float = 0.02) -> T:
    """Poll ``condition`` until it returns something true; AssertionError after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(step)


def free_subnet(rng: random.Random) -> ipaddress.IPv4Network:
    used = subprocess.run(["ip", "-4", "-o", "addr"], capture_output=True, text=True).stdout
    used += subprocess.run(["ip", "-4", "route"], capture_output=True, text=True).stdout
    for _ in range(200):
        net = ipaddress.IPv4Network(f"172.30.{rng.randrange(256)}.0/24")
        if str(net.network_address).rpartition(".")[0] + "." not in used:
            return net
    raise AssertionError("no free test subnet in 172.30.0.0/16")


def nat_rules() -> list[str]:
    done = subprocess.run(["iptables", "-w", "5", "-t", "nat", "-S"], capture_output=True,
                          text=True, check=False)  # fmt: skip
    return done.stdout.splitlines()


def filter_rules() -> list[str]:
    done = subprocess.run(["iptables", "-w", "5", "-S"], capture_output=True, text=True,
                          check=False)  # fmt: skip
    return done.stdout.splitlines()


@dataclass
class World:
    root: Path
    rng: random.Random
    net: ipaddress.IPv4Network
    network: str
    images: dict[str, Path] = field(default_factory=dict)
    uuids: set[str] = field(default_factory=set)
    #: images fetched during a run (removed again by the chaos rounds)
    fetched: list[str] = field(default_factory=list)

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def etc(self) -> Path:
        return self.root / "etc"

    @property
    def leases(self) -> Path:
        return self.root / "leases" / self.network

    @classmethod
    def make(cls, root: Path, seed: int, *, network: str = "") -> World:
        rng = random.Random(seed)
        net = free_subnet(rng)
        name = network or f"rel{rng.randrange(16**6):06x}"
        world = cls(root, rng, net, name)
        (world.etc / "net.d").mkdir(parents=True, exist_ok=True)
        conf = {
            "cniVersion": "1.0.0",
            "name": name,
            "type": "ptp",
            "ipMasq": True,
            "ipam": {"type": "host-local", "subnet": str(net),
                     "dataDir": str(root / "leases"),
                     "routes": [{"dst": "0.0.0.0/0"}]},
        }  # fmt: skip
        (world.etc / "net.d" / f"50-{name}.conf").write_text(json.dumps(conf))
        base = podkit.make_base_rootfs(root / "base")
        out = root / "images"
        out.mkdir(exist_ok=True)
        world.images["sleeper"] = podkit.make_image(
            base, out, "sleeper", {"exec": ["/bin/sh", "-c", "echo READY; exec sleep 3600"]}
        )
        world.images["quick"] = podkit.make_image(
            base, out, "quick", {"exec": ["/bin/sh", "-c", "echo done"]}
        )
        world.images["writer"] = podkit.make_image(
            base,
            out,
            "writer",
            {"exec": ["/bin/sh", "-c", "echo READY; echo x > /data/x; exec sleep 3600"],
             "mountPoints": [{"name": "data", "path": "/data"}]},
        )  # fmt: skip
        return world

    # --- commands ------------------------------------------------------------------------
    def argv(self, *args: str) -> list[str]:
        return [*RKT, f"--dir={self.data}", f"--local-config={self.etc}", *args]

    def rkt(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(self.argv(*args), capture_output=True, text=True,
                              timeout=timeout, check=False)  # fmt: skip

    def gc(self) -> subprocess.CompletedProcess[str]:
        """``rkt gc`` twice (exited → garbage → deleted), then the store's."""
        for _ in range(2):
            done = self.rkt("gc", "--grace-period=0s")
            assert done.returncode == 0, done.stderr
        image_gc = self.rkt("image", "gc", "--grace-period=24h")
        assert image_gc.returncode == 0, image_gc.stderr
        return done

    # --- what is left --------------------------------------------------------------------
    def leftovers(self) -> dict[str, list[str]]:
        """What the world's pods left on the host, by kind; empty lists on a clean host."""
        from rkt.stage1.executor.leftovers import pod_cgroups

        found: dict[str, list[str]] = {}
        prefix = str(self.data) + "/"
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            found["mounts"] = [m for line in f if (m := line.split()[4]).startswith(prefix)]
        mine = self.uuids | set(_uuids_under(self.data / "pods"))
        found["cgroups"] = sorted(
            p for uuid, paths in pod_cgroups().items() if uuid in mine for p in paths
        )
        gateway = str(self.net.network_address + 1)
        veths = subprocess.run(["ip", "-4", "-o", "addr", "show", "to", f"{gateway}/32"],
                               capture_output=True, text=True, check=False).stdout  # fmt: skip
        found["veths"] = [line.split()[1] for line in veths.splitlines() if line]
        prefix_net = str(self.net.network_address).rpartition(".")[0] + "."
        found["iptables"] = [
            r for r in nat_rules() + filter_rules()
            if prefix_net in r or self.network in r or any(u in r for u in mine)
        ]  # fmt: skip
        try:
            found["leases"] = sorted(
                n for n in os.listdir(self.leases) if n not in ("lock",)
                and not n.startswith("last_reserved_ip")
            )  # fmt: skip
        except FileNotFoundError:
            found["leases"] = []
        found["processes"] = _pod_processes(mine)
        found["lock files"] = self._stale_locks()
        found["pods"] = sorted(
            f"{path.parent.name}/{path.name}"
            for path in (self.data / "pods").glob("*/*")
            if UUID.fullmatch(path.name)
        )
        found["tmp"] = sorted(
            f"{tmp}/{name}"
            for tmp in ("tmp", "cas/tmp")
            if (self.data / tmp).is_dir()
            for name in os.listdir(self.data / tmp)
        )
        return {kind: items for kind, items in found.items() if items}

    def _stale_locks(self) -> list[str]:
        """Lock files of images no longer stored, and of this network's chain once it is gone."""
        import sqlite3

        from rkt.net.masquerade import MARKERS, RUN_DIR, network_names

        stale: list[str] = []
        db = self.data / "cas" / "db" / "index.sqlite"
        for locks in (self.data / "locks", self.data / "cas" / "imagelocks"):
            if locks.is_dir() and db.exists():
                with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
                    images = {row[0] for row in conn.execute("SELECT id FROM images")}
                stale += [n for n in os.listdir(locks) if n.partition("-")[2] not in images]
        chain, _comment = network_names(self.network, {4: [str(self.net)]})
        markers = RUN_DIR / MARKERS
        if markers.is_dir() and not any(chain in rule for rule in nat_rules()):
            stale += [str(markers / n) for n in os.listdir(markers) if n.startswith(chain)]
        return sorted(stale)

    def cleanup(self) -> None:
        """Best effort after a failed test: kill the world's pods, gc, detach what is left."""
        for pid in _pod_processes(self.uuids | set(_uuids_under(self.data / "pods")), pids=True):
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(pid), signal.SIGKILL)
        with contextlib.suppress(Exception):
            for _ in range(2):
                self.rkt("gc", "--grace-period=0s")
        for target in sorted(podkit.mounts_under(self.root), key=len, reverse=True):
            with contextlib.suppress(OSError):
                umount2(target, MNT_DETACH)
        for rule in nat_rules():
            if (
                self.network in rule
                or str(self.net.network_address).rpartition(".")[0] + "." in rule
            ):
                words = shlex.split(rule)
                if words[:1] == ["-A"]:
                    subprocess.run(["iptables", "-w", "5", "-t", "nat", "-D", *words[1:]],
                                   check=False)  # fmt: skip


def holders(uuid: str) -> dict[int, str]:
    """Processes holding a pod directory of ``uuid`` open (``rkt run``, its monitor, PID 1,
    a teardown, ``rkt stop``...), with their command lines."""
    found: dict[int, str] = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    if re.search(rf"/pods/[a-z-]+/{uuid}$", os.readlink(f"/proc/{pid}/fd/{fd}")):
                        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                        found[int(pid)] = cmdline.replace(b"\0", b" ").decode(errors="replace")
                        break
    return found


def kill_pod(uuid: str, timeout: float = 30) -> None:
    """SIGKILL every process of the pod's runtime (and so its apps: PID 1 dies with them)
    until none holds the pod's directory."""

    def gone() -> bool:
        for pid in holders(uuid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        return not holders(uuid)

    wait_for(gone, timeout, f"the processes of pod {uuid} to die")


def _uuids_under(pods: Path) -> Iterator[str]:
    with contextlib.suppress(FileNotFoundError):
        for phase in os.listdir(pods):
            with contextlib.suppress(NotADirectoryError, FileNotFoundError):
                yield from (n for n in os.listdir(pods / phase) if UUID.fullmatch(n))


def _pod_processes(uuids: set[str], *, pids: bool = False) -> list[str]:
    """Processes whose cgroup or command line names one of ``uuids``."""
    found: list[str] = []
    if not uuids:
        return found
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            text = Path(f"/proc/{pid}/cgroup").read_text()
        except OSError:
            continue
        hit = next((u for u in uuids if u in text), None)
        if hit:
            found.append(pid if pids else f"{pid} in a cgroup of pod {hit}")
    return found
