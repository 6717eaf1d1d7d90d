"""The cost of isolation in ``rkt run``, in the same run, on bench/run.py's busybox image.

1. ``rkt run --net=none IMAGE-ID`` running ``/bin/true``, whole command to exit, medians of N
   interleaved runs: the default (seccomp filter, cgroups, capability bounding) against
   ``--insecure-options=seccomp,capabilities,paths`` (no filter, no capability restriction,
   no masked paths). ms added and the ratio. Target: under 10 ms added.
2. Cgroups have no off switch, so their share is timed in process: ``rkt.linux.cgroup``
   ``create_pod`` + ``remove`` of one pod (a supervisor leaf and one app leaf), under a
   temporary test cgroup below this process's own cgroup in every hierarchy (removed after).

Needs root and /bin/busybox. Everything lives in a temporary directory that is removed at the
end, with the pods (``rkt gc --grace-period=0s``, twice).
Run: .venv/bin/python bench/isolation.py [--runs N] [--cgroup-runs M]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from run import PYTHON, ROOT, Bench, cleanup, ms, ratio, timed

INSECURE = "image,seccomp,capabilities,paths"


def insecure_run(bench: Bench) -> list[str]:
    # Bench.rkt() pins --insecure-options=image; the whole command is spelled out here instead.
    return [PYTHON, "-m", "rkt.cli.main", f"--dir={bench.data}", f"--insecure-options={INSECURE}",
            "run", "--net=none", bench.image_id]  # fmt: skip


def whole_command(bench: Bench, runs: int) -> dict[str, float]:
    subjects = {"default": bench.rkt_run, "insecure": lambda: insecure_run(bench)}
    for make in subjects.values():  # warm-up: page cache, store, image
        for _ in range(2):
            timed(make(), env=bench.env)
    bench.gc()
    times: dict[str, list[float]] = {name: [] for name in subjects}
    for _ in range(runs):
        for name, make in subjects.items():
            times[name].append(timed(make(), env=bench.env))
        bench.gc()
    medians = {name: statistics.median(t) for name, t in times.items()}
    print(f"\n1. rkt run --net=none ID running /bin/true, whole command, median of {runs}")
    labels = {
        "default": "default (seccomp + cgroups + caps + masked paths)",
        "insecure": f"--insecure-options={INSECURE}",
    }
    for name, t in times.items():
        print(f"   {labels[name]:52} {ms(medians[name])}  (min {ms(min(t))}, max {ms(max(t))})")
    added = medians["default"] - medians["insecure"]
    print(f"   isolation added (default - insecure)                 {ms(added)}  "
          f"(target < 10 ms)")  # fmt: skip
    print(f"   default/insecure                                     "
          f"{ratio(medians['default'], medians['insecure'])}")  # fmt: skip
    return medians


def cgroup_share(runs: int) -> float | None:
    sys.path.insert(0, str(ROOT / "src"))
    from rkt.linux import cgroup
    from rkt.stage1.planner.plan import CgroupLimits

    try:
        host = cgroup.host_layout()
    except OSError as err:
        print(f"\n2. cgroups: no layout ({err}); skipped")
        return None
    test = f"rkt-bench-isolation-{os.getpid()}"
    bases = {c: os.path.join(b, test) for c, b in host.bases.items()}
    layout = cgroup.Layout(host.version, bases, host.top, host.available)
    made: list[str] = []
    times = []
    errors: list[str] = []
    try:
        for directory in sorted(set(bases.values())):
            os.mkdir(directory)
            made.append(directory)
        apps = {"bench": CgroupLimits()}
        for _ in range(runs):
            pod_uuid = str(uuid.uuid4())
            start = time.perf_counter()
            pod = cgroup.create_pod(layout, pod_uuid, CgroupLimits(), apps)
            errors += cgroup.remove(pod, timeout=1.0)
            times.append(time.perf_counter() - start)
    except OSError as err:
        print(f"\n2. cgroups: cannot create a test cgroup ({err}); skipped")
        return None
    finally:
        for directory in reversed(made):
            for sub in ("rkt", ""):
                try:
                    os.rmdir(os.path.join(directory, sub) if sub else directory)
                except FileNotFoundError:
                    pass
                except OSError as err:
                    print(f"   warning: cannot remove {directory}/{sub}: {err}")
    median = statistics.median(times)
    hierarchies = len(set(bases.values()))
    print(f"\n2. cgroups ({host.version}, {hierarchies} hierarchies: "
          f"{', '.join(sorted(bases))}), in process, median of {runs}")  # fmt: skip
    print(f"   rkt.linux.cgroup create_pod + remove (1 pod, 1 app)  {ms(median)}  "
          f"(min {ms(min(times))}, max {ms(max(times))})")  # fmt: skip
    if errors:
        print(f"   remove errors: {errors[:3]}")
    return median


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per variant of rkt run")
    parser.add_argument("--cgroup-runs", type=int, default=51, help="in-process cgroup timings")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/isolation.py: needs root")
    top = Path(tempfile.mkdtemp(prefix="rkt-bench-isolation-", dir="/var/tmp"))
    bench = Bench(top, peers=False)
    try:
        bench.setup()
        medians = whole_command(bench, args.runs)
        share = cgroup_share(args.cgroup_runs)
        if share is not None:
            print(f"   cgroups' share of the default run                    "
                  f"{share / medians['default'] * 100:5.1f}%")  # fmt: skip
    finally:
        cleanup(bench)
    return 0


if __name__ == "__main__":
    sys.exit(main())
