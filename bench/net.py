"""``rkt run --net=default`` against ``podman run --network=bridge``, on the same busybox rootfs.

1. One pod running ``/bin/true`` on each runtime's default network, whole command to exit:
   ``rkt run --net=default IMAGE-ID`` (the built-in ``default``: ptp + host-local + ipMasq)
   and ``podman run --network=bridge --rm`` (its default network), with
   ``rkt run --net=none`` for reference. Runs are interleaved; medians. Target: rkt <= 1/3 of
   podman.
2. The CNI part of rkt's time: ``rkt.net.pod.setup`` (netns + ADD of ``default`` + the
   network's masquerading made + net-info.json) and ``rkt.net.pod.teardown`` (DEL + netns
   removal) of one pod, timed in process on a pod directory made for it (the selection saved
   as ``rkt run`` saves it); and, as a cross-check, ``--net=default`` minus ``--net=none``
   from 1. Both are part of ``rkt run``'s time: stage0 tears the network down as the pod
   exits. Also timed, though no ``rkt run`` waits for it: what ``rkt gc`` of the pod adds,
   the removal of the network's masquerading once no pod is on it (rkt.net.masquerade), done
   after every pod here as in 1, so that each setup makes it anew (the slower case).

Needs root, /bin/busybox and podman (bench/setup-peers.sh). Everything lives in a temporary
directory that is removed at the end: every rkt pod is gc'd (``rkt gc --grace-period=0s``
twice, so no veth, lease or iptables rule stays), podman's containers run with ``--rm`` and its
storage is under a temporary ``--root``/``--runroot``.
Run: .venv/bin/python bench/net.py [--runs N] [--cni-runs M] [--no-peers]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PODMAN_IMAGE, ROOT, ULIMITS, Bench, cleanup, ms, ratio, timed


def rkt_default(bench: Bench) -> list[str]:
    return bench.rkt("run", "--net=default", bench.image_id)


def podman_bridge(bench: Bench) -> list[str]:
    return [*bench.podman, "run", "--network=bridge", "--rm", *ULIMITS, PODMAN_IMAGE,
            "/bin/true"]  # fmt: skip


def whole_command(bench: Bench, runs: int) -> dict[str, float]:
    subjects: dict[str, Callable[[], list[str]]] = {
        "rkt --net=default": lambda: rkt_default(bench),
        "rkt --net=none": bench.rkt_run,
    }
    if bench.peers:
        subjects["podman --network=bridge"] = lambda: podman_bridge(bench)
    for make in subjects.values():  # warm-up: page cache, store, image, podman's network
        for _ in range(2):
            timed(make(), env=bench.env)
    bench.gc()
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(runs):
        for name, make in subjects.items():
            times[name].append(timed(make(), env=bench.env))
        bench.gc()  # DEL of every exited pod's network: veth, lease, NAT rules
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n1. one pod running /bin/true on the default network, whole command, median of {runs}")
    for name, t in times.items():
        print(f"   {name:26} {ms(medians[name])}  (min {ms(min(t))}, max {ms(max(t))})")
    if bench.peers:
        print(f"   rkt/podman                 "
              f"{ratio(medians['rkt --net=default'], medians['podman --network=bridge'])}  "
              "(target <= 0.33x)")  # fmt: skip
    return medians


def cni_in_process(top: Path, runs: int) -> dict[str, float]:
    sys.path.insert(0, str(ROOT / "src"))
    from rkt.config import ConfigDirs
    from rkt.net import pod as net_pod
    from rkt.net import selection

    empty = top / "no-net.d"  # no user networks: --net=default is the built-in one
    empty.mkdir(exist_ok=True)
    dirs = ConfigDirs(system=empty, local=empty, user=None)
    _, selected = selection.select(dirs, "default")
    times: dict[str, list[float]] = {"setup": [], "teardown": [], "gc": []}
    errors: list[str] = []
    for i in range(runs + 1):  # the first is a warm-up
        pod_uuid = str(uuid.uuid4())
        pod_dir = top / "cni-pods" / pod_uuid
        pod_dir.mkdir(parents=True)
        selection.save_selection(pod_dir, selected)
        start = time.perf_counter()
        try:
            net_pod.setup(pod_dir, pod_uuid)
        finally:
            middle = time.perf_counter()
            errors += net_pod.teardown(pod_dir, pod_uuid)
            end = time.perf_counter()
            errors += net_pod.release_idle(pod_dir)
            after_gc = time.perf_counter()
        if i:
            times["setup"].append(middle - start)
            times["teardown"].append(end - middle)
            times["gc"].append(after_gc - end)
        shutil.rmtree(pod_dir)
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n2. CNI part of rkt's time (built-in default, in process), median of {runs}")
    labels = {
        "setup": "setup: netns + ADD (ptp, host-local) + ipMasq + net-info",
        "teardown": "teardown: DEL + netns removal",
        "gc": "(rkt gc, not in the run: ipMasq removed, network idle)",
    }
    for name, t in times.items():
        print(f"   {labels[name]:58} {ms(medians[name])}  (min {ms(min(t))}, max {ms(max(t))})")
    print(f"   {'ADD + DEL':58} {ms(medians['setup'] + medians['teardown'])}")
    if errors:
        print(f"   teardown errors: {errors[:3]}")
    return medians


def leftovers() -> list[str]:
    """Anything the built-in default network leaves on the host: leases, ptp veths, NAT chains."""
    found = []
    leases = Path("/var/lib/cni/networks/default")
    if leases.is_dir():
        found += [f"lease {p.name}" for p in leases.iterdir() if p.name[0].isdigit()]
    links = subprocess.run(["ip", "-o", "link", "show", "type", "veth"], capture_output=True,
                           text=True, check=False)  # fmt: skip
    found += [f"veth {line.split(':')[1].strip()}" for line in links.stdout.splitlines()]
    nat = subprocess.run(["iptables", "-w", "5", "-t", "nat", "-S", "POSTROUTING"],
                         capture_output=True, text=True, check=False)  # fmt: skip
    found += [f"rule {line}" for line in nat.stdout.splitlines() if 'name: "default"' in line]
    found += [f"rule {line}" for line in nat.stdout.splitlines()
              if 'rkt ipMasq of network \\"default\\"' in line]  # fmt: skip
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per subject in 1")
    parser.add_argument("--cni-runs", type=int, default=21, help="in-process ADD/DEL timings")
    parser.add_argument("--no-peers", action="store_true", help="rkt only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/net.py: needs root")
    peers = not args.no_peers
    if peers and not shutil.which("podman"):
        sys.exit("bench/net.py: podman is needed (run bench/setup-peers.sh)")
    before = set(leftovers())
    top = Path(tempfile.mkdtemp(prefix="rkt-bench-net-", dir="/var/tmp"))
    bench = Bench(top, peers)
    try:
        bench.setup()
        medians = whole_command(bench, args.runs)
        cni = cni_in_process(top, args.cni_runs)
        fallback = medians["rkt --net=default"] - medians["rkt --net=none"]
        print(f"   {'cross-check: rkt --net=default - --net=none (1.)':58} {ms(fallback)}")
        share = (cni["setup"] + cni["teardown"]) / medians["rkt --net=default"]
        print(f"   {'ADD+DEL vs the whole --net=default run':58} {share * 100:7.1f} %  "
              "(both inside the run: DEL as the pod exits)")  # fmt: skip
    finally:
        cleanup(bench)
    left = sorted(set(leftovers()) - before)
    print(f"\nleft on the host after gc: {', '.join(left) if left else 'nothing'}")
    return 1 if left else 0


if __name__ == "__main__":
    sys.exit(main())
