"""Logs and detached runs (``rkt run`` with its monitor capturing the apps' output) against
podman (conmon's k8s-file log), on the same busybox rootfs, in the same run.

1. An app writing 1 GiB of lines to stdout, whole command until it exits, output of both
   commands to /dev/null: ``rkt run`` (the monitor writes the log and copies the lines to its
   stdout) and ``podman run --rm`` (conmon writes the log and podman copies). Target: rkt <=
   1.2x podman.
2. ``rkt run --detach`` of ``/bin/true`` until it returns, against the foreground ``rkt run``
   of ``/bin/true`` until it exits. Target: <= 1.1x.
3. ``rkt logs --follow``: from a line written into the app (a fifo on a host volume that the
   app copies to its stdout) until ``rkt logs --follow`` prints it; podman's ``logs --follow``
   for comparison. Target: < 100 ms.

Needs root, /bin/busybox and the peers (bench/setup-peers.sh).
Run: .venv/bin/python bench/logs.py [--runs N] [--size MiB] [--no-peers]
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from run import PODMAN_IMAGE, ULIMITS, Bench, cleanup, ms, ratio, timed

APPLETS = ("sh", "true", "sleep", "yes", "head", "cat")
MiB = 1 << 20
# Lines of 100 bytes, as many as fill the size.
LINE = ("rocket-bench-line-" + "0123456789" * 9)[:99]
WRITER = f"yes '{LINE}' | head -c {{size}}"
ECHO = "while true; do cat /gate/fifo; done"


def bulk(bench: Bench, runs: int, size: int) -> None:
    script = WRITER.format(size=size)
    subjects = {"rkt": bench.rkt_run("--exec=/bin/sh", "--", "-c", script, "---")}
    if bench.peers:
        subjects["podman"] = [*bench.podman, "run", "--network=none", "--rm", *ULIMITS,
                              PODMAN_IMAGE, "/bin/sh", "-c", script]  # fmt: skip
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(runs):
        for name, command in subjects.items():
            times[name].append(timed(command, env=bench.env))
        bench.gc()
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n1. an app writing {size // MiB} MiB of lines to stdout, median of {runs}")
    for name, t in times.items():
        rate = size / MiB / medians[name]
        print(f"   {name:7} {ms(medians[name])}  ({rate:.0f} MiB/s; min {ms(min(t))})")
    if bench.peers:
        print(f"   rkt/podman {ratio(medians['rkt'], medians['podman'])}  (target <= 1.2x)")


def detach(bench: Bench, runs: int) -> None:
    subjects = {"foreground": bench.rkt_run(), "--detach": bench.rkt_run("--detach")}
    for command in subjects.values():
        timed(command, env=bench.env)
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(runs):
        for name, command in subjects.items():
            times[name].append(timed(command, env=bench.env))
        time.sleep(0.2)  # the detached /bin/true pods end
        bench.gc()
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n2. rkt run of /bin/true until it returns, median of {runs}")
    for name, t in times.items():
        print(f"   {name:11} {ms(medians[name])}  (min {ms(min(t))}, max {ms(max(t))})")
    detached = ratio(medians["--detach"], medians["foreground"])
    print(f"   detach/foreground {detached}  (target <= 1.1x)")


def _latencies(follow: list[str], fifo: Path, runs: int) -> list[float]:
    """Write a line into the app ``runs`` times; how long each took to reach ``follow``."""
    proc = subprocess.Popen(follow, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    seen: list[float] = []
    buffer = b""
    try:
        # The follower prints only what comes after it started: lines until it shows one.
        deadline = time.monotonic() + 30
        while b"warm-up" not in buffer:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{' '.join(follow[:3])} ... logs --follow: printed nothing")
            with open(fifo, "wb") as pipe:
                pipe.write(b"warm-up\n")
            ready, _, _ = select.select([proc.stdout], [], [], 0.5)
            if ready:
                buffer += os.read(proc.stdout.fileno(), 65536)
        buffer = b""
        time.sleep(0.2)
        for index in range(runs):
            token = f"follow-{index}-{os.getpid()}".encode()
            start = time.perf_counter()
            with open(fifo, "wb") as pipe:  # the app's cat has it open: no wait
                pipe.write(token + b"\n")
            while token not in buffer:
                ready, _, _ = select.select([proc.stdout], [], [], 10)
                if not ready:
                    raise RuntimeError(f"{follow[0]} logs --follow: no line within 10 s")
                buffer += os.read(proc.stdout.fileno(), 65536)
            seen.append(time.perf_counter() - start)
            buffer = buffer[buffer.index(token) + len(token) :]
            time.sleep(0.05)
    finally:
        proc.kill()
        proc.wait()
    return seen


def follow(bench: Bench, runs: int) -> None:
    gate = bench.top / "gate"
    gate.mkdir(exist_ok=True)
    fifo = gate / "fifo"
    os.mkfifo(fifo)
    volume = f"--volume=gate,kind=host,source={gate}"
    rkt = subprocess.run(
        bench.rkt("run", "--net=none", "--detach", volume, bench.image_id,
                  "--mount=volume=gate,target=/gate", "--exec=/bin/sh", "--", "-c", ECHO),
        capture_output=True, text=True, check=True, env=bench.env,
    )  # fmt: skip
    uuid = rkt.stdout.strip().splitlines()[-1]
    results = {"rkt": _latencies(bench.rkt("logs", "--follow", "--tail=0", uuid), fifo, runs)}
    subprocess.run(bench.rkt("stop", "--force", uuid), capture_output=True, check=False)
    if bench.peers:
        name = f"bench-follow-{os.getpid()}"
        subprocess.run(
            [*bench.podman, "run", "-d", "--network=none", "--name", name, *ULIMITS,
             "-v", f"{gate}:/gate", PODMAN_IMAGE, "/bin/sh", "-c", ECHO],
            capture_output=True, check=True,
        )  # fmt: skip
        try:
            command = [*bench.podman, "logs", "--follow", "--tail=0", name]
            results["podman"] = _latencies(command, fifo, runs)
        finally:
            subprocess.run([*bench.podman, "rm", "-f", "-t", "0", name], capture_output=True,
                           check=False)  # fmt: skip
    print(f"\n3. a line written by the app until logs --follow prints it, median of {runs}")
    for name, seen in results.items():
        print(
            f"   {name:7} {ms(statistics.median(seen))}  (max {ms(max(seen))})  (target < 100 ms)"
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="runs of 1 (and 4x that of 2 and 3)")
    parser.add_argument("--size", type=int, default=1024, help="MiB the app writes in 1")
    parser.add_argument("--no-peers", action="store_true", help="rkt only")
    parser.add_argument("--only", choices=("bulk", "detach", "follow"), help="one part only")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/logs.py: needs root")
    peers = not args.no_peers
    if peers and not shutil.which("podman"):
        sys.exit("bench/logs.py: podman is needed (run bench/setup-peers.sh)")
    top = Path(tempfile.mkdtemp(prefix="rkt-bench-logs-", dir="/var/tmp"))
    bench = Bench(top, peers)
    try:
        bench.setup(APPLETS)
        if args.only in (None, "bulk"):
            bulk(bench, args.runs, args.size * MiB)
        if args.only in (None, "detach"):
            detach(bench, args.runs * 4)
        if args.only in (None, "follow"):
            follow(bench, args.runs * 4)
    finally:
        cleanup(bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
