"""``rkt run`` against runc and podman, on the same busybox rootfs, in the same run.

1. One pod running ``/bin/true``, whole command to exit: ``rkt run --net=none IMAGE-ID`` of an
   image fetched into the store beforehand, ``runc run`` of an OCI bundle (``runc spec``,
   patched) and ``podman run --network=none --rm`` of an image imported from a tar of the same
   tree. Runs are interleaved; medians. Targets: rkt <= 1.25x runc, <= 0.25x podman.
2. 20 pods started at once (total wall time until all have exited), rkt vs podman (runc for
   reference). Target: rkt <= 0.30x podman.
3. Idle memory of a pod running ``sleep 1000``: RSS, PSS and USS (``/proc/PID/smaps_rollup``)
   of every process of the pod that is not the app (the monitor and PID 1, with logging on),
   against podman's conmon. Target: <= 1.0x conmon's RSS and USS.
4. ``--profile``: where one ``rkt run`` spends its time (a timing harness around the run
   path, in stage0 and stage1, plus ``-X importtime``).

Needs root, /bin/busybox and the peers (bench/setup-peers.sh). Everything lives in a temporary
directory that is removed at the end, with the pods (``rkt gc``) and containers.
Run: .venv/bin/python bench/run.py [--runs N] [--pods 20] [--batches B] [--no-peers] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv/bin/python")
BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "true", "sleep")
IMAGE_NAME = "example.com/bench-run"
PODMAN_IMAGE = "localhost/bench-run:latest"
ULIMITS = ("--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768")
MiB = 1024 * 1024


# --- fixtures ---------------------------------------------------------------------------------


def make_rootfs(top: Path, applets: tuple[str, ...] = APPLETS) -> Path:
    rootfs = top / "layout/rootfs"
    (rootfs / "bin").mkdir(parents=True)
    shutil.copy(BUSYBOX, rootfs / "bin/busybox")
    for name in applets:
        (rootfs / "bin" / name).symlink_to("busybox")
    return rootfs


def make_aci(top: Path) -> Path:
    sys.path.insert(0, str(ROOT / "src"))
    from appc.aci.builder import build

    manifest = {
        "acKind": "ImageManifest",
        "acVersion": "0.8.11",
        "name": IMAGE_NAME,
        "labels": [{"name": "os", "value": "linux"}, {"name": "arch", "value": "amd64"}],
        "app": {"exec": ["/bin/true"], "user": "0", "group": "0"},
    }
    (top / "layout/manifest").write_text(json.dumps(manifest))
    build(top / "layout", top / "bench.aci", owner_root=True)
    return top / "bench.aci"


def make_bundle(top: Path, rootfs: Path) -> Path:
    bundle = top / "bundle"
    bundle.mkdir()
    shutil.copytree(rootfs, bundle / "rootfs", symlinks=True)
    subprocess.run(["runc", "spec"], cwd=bundle, check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["process"]["args"] = ["/bin/true"]
    config["process"]["terminal"] = False
    config["root"]["readonly"] = False
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


# --- measuring --------------------------------------------------------------------------------


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)}: exit {done.returncode}: {done.stderr.decode()}")
    return elapsed


def timed_batch(commands: list[list[str]]) -> float:
    start = time.perf_counter()
    procs = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands
    ]
    failed = []
    for proc, command in zip(procs, commands, strict=True):
        _, err = proc.communicate()
        if proc.returncode != 0:
            failed.append(f"{' '.join(command)}: exit {proc.returncode}: {err.decode()}")
    elapsed = time.perf_counter() - start
    if failed:
        raise RuntimeError("\n".join(failed[:3]))
    return elapsed


def ms(seconds: float) -> str:
    return f"{seconds * 1000:8.1f} ms"


def ratio(a: float, b: float) -> str:
    return f"{a / b:6.2f}x"


class Bench:
    def __init__(self, top: Path, peers: bool) -> None:
        self.top = top
        self.data = top / "rkt"
        self.peers = peers
        self.env = dict(os.environ)
        self.env.pop("PYTHONDONTWRITEBYTECODE", None)
        self.podman = ["podman", f"--root={top}/podman-root", f"--runroot={top}/podman-run"]
        self.image_id = ""
        self.bundle = top / "bundle"
        self.counter = 0

    def rkt(self, *args: str) -> list[str]:
        return [PYTHON, "-m", "rkt.cli.main", f"--dir={self.data}", "--insecure-options=image",
                *args]  # fmt: skip

    def rkt_run(self, *extra: str) -> list[str]:
        return self.rkt("run", "--net=none", self.image_id, *extra)

    def runc_run(self) -> list[str]:
        self.counter += 1
        return ["runc", "run", "-b", str(self.bundle), f"bench-{os.getpid()}-{self.counter}"]

    def podman_run(self, *app: str) -> list[str]:
        return [*self.podman, "run", "--network=none", "--rm", *ULIMITS, PODMAN_IMAGE,
                *(app or ("/bin/true",))]  # fmt: skip

    def setup(self, applets: tuple[str, ...] = APPLETS) -> None:
        subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "src")], check=True,
                       env=self.env)  # fmt: skip
        rootfs = make_rootfs(self.top, applets)
        aci = make_aci(self.top)
        fetched = subprocess.run(self.rkt("fetch", str(aci)), capture_output=True, text=True,
                                 check=True)  # fmt: skip
        self.image_id = fetched.stdout.strip().splitlines()[-1]
        print(f"rkt: fetched {aci.name} as {self.image_id}")
        if not self.peers:
            return
        make_bundle(self.top, rootfs)
        tar = self.top / "rootfs.tar"
        subprocess.run(["tar", "-C", str(rootfs), "-cf", str(tar), "."], check=True)
        subprocess.run([*self.podman, "import", "-q", str(tar), PODMAN_IMAGE], check=True,
                       stdout=subprocess.DEVNULL)  # fmt: skip

    def gc(self) -> None:
        for _ in range(2):
            subprocess.run(self.rkt("gc", "--grace-period=0s"), capture_output=True, check=False)

    # --- 1 -------------------------------------------------------------------------------------

    def single(self, runs: int) -> dict[str, float]:
        subjects: dict[str, Callable[[], list[str]]] = {"rkt": self.rkt_run}
        if self.peers:
            subjects |= {"runc": self.runc_run, "podman": self.podman_run}
        for make in subjects.values():  # warm-up: page cache, store, image
            for _ in range(2):
                timed(make(), env=self.env)
        times: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(runs):
            for name, make in subjects.items():
                times[name].append(timed(make(), env=self.env))
            self.gc()  # exited pods would pile up (and their overlay mounts with them)
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"\n1. one pod running /bin/true, whole command, median of {runs}")
        for name, t in times.items():
            print(f"   {name:7} {ms(medians[name])}  (min {ms(min(t))}, max {ms(max(t))})")
        if self.peers:
            print(f"   rkt/runc   {ratio(medians['rkt'], medians['runc'])}  (target <= 1.25x)")
            print(f"   rkt/podman {ratio(medians['rkt'], medians['podman'])}  (target <= 0.25x)")
        return medians

    # --- 2 -------------------------------------------------------------------------------------

    def concurrent(self, pods: int, batches: int) -> dict[str, float]:
        subjects: dict[str, Callable[[], list[str]]] = {"rkt": self.rkt_run}
        if self.peers:
            subjects |= {"runc": self.runc_run, "podman": self.podman_run}
        times: dict[str, list[float]] = {name: [] for name in subjects}
        for _ in range(batches):
            for name, make in subjects.items():
                times[name].append(timed_batch([make() for _ in range(pods)]))
            self.gc()
        medians = {name: statistics.median(t) for name, t in times.items()}
        print(f"\n2. {pods} pods started at once, wall time until all exited, median of {batches}")
        for name, t in times.items():
            print(f"   {name:7} {ms(medians[name])}  (min {ms(min(t))}, max {ms(max(t))})")
        if self.peers:
            print(f"   rkt/runc   {ratio(medians['rkt'], medians['runc'])}")
            print(f"   rkt/podman {ratio(medians['rkt'], medians['podman'])}  (target <= 0.30x)")
        return medians

    # --- 3 -------------------------------------------------------------------------------------

    def memory(self) -> None:
        print("\n3. idle pod (sleep 1000): processes that are not the app")
        proc = subprocess.Popen(
            self.rkt_run("--exec=/bin/sleep", "--", "1000", "---"),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            app = wait_for(lambda: find_app(proc.pid, "sleep"), 30)
            time.sleep(1.0)  # let it settle
            others = [p for p in descendants(proc.pid) if p not in subtree(app)]
            report_memory(others, app)
        finally:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            self.gc()
        if self.peers:
            self.memory_peers()

    def memory_peers(self) -> None:
        name = f"bench-mem-{os.getpid()}"
        started = subprocess.run(
            [*self.podman, "run", "-d", "--network=none", "--name", name, *ULIMITS,
             PODMAN_IMAGE, "/bin/sleep", "1000"], capture_output=True, text=True, check=False,
        )  # fmt: skip
        if started.returncode != 0:
            print(f"   podman: cannot start: {started.stderr.strip()}")
            return
        try:
            time.sleep(1.0)
            conmon = subprocess.run([*self.podman, "inspect", "--format",
                                     "{{.State.ConmonPid}}", name],
                                    capture_output=True, text=True, check=True)  # fmt: skip
            print("   for comparison, podman's per-container monitor:")
            report_memory([int(conmon.stdout.strip())], None)
        finally:
            subprocess.run([*self.podman, "rm", "-f", "-t", "0", name], capture_output=True,
                           check=False)  # fmt: skip


# --- /proc helpers ----------------------------------------------------------------------------


def children_map() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8", errors="replace") as f:
                stat = f.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def subtree(pid: int) -> list[int]:
    tree = children_map()
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(tree.get(p, []))
    return out


def descendants(pid: int) -> list[int]:
    return subtree(pid)


def comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def find_app(root: int, name: str) -> int | None:
    return next((p for p in descendants(root) if comm(p) == name), None)


def wait_for(probe: Callable[[], int | None], timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while (value := probe()) is None:
        if time.monotonic() > deadline:
            raise RuntimeError("timed out waiting for the pod's app")
        time.sleep(0.05)
    return value


def smaps(pid: int) -> dict[str, int]:
    values = {}
    with open(f"/proc/{pid}/smaps_rollup", encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if len(parts) == 3 and parts[2] == "kB":
                values[parts[0].rstrip(":")] = int(parts[1]) * 1024
    return values


def report_memory(pids: list[int], app: int | None) -> None:
    total = {"rss": 0, "pss": 0, "uss": 0}
    for pid in pids:
        s = smaps(pid)
        uss = s.get("Private_Clean", 0) + s.get("Private_Dirty", 0)
        total["rss"] += s["Rss"]
        total["pss"] += s["Pss"]
        total["uss"] += uss
        print(f"   pid {pid:7} {comm(pid):16} RSS {s['Rss'] / MiB:6.2f} MiB  "
              f"PSS {s['Pss'] / MiB:6.2f} MiB  USS {uss / MiB:6.2f} MiB")  # fmt: skip
    print(f"   total ({len(pids)} processes)        RSS {total['rss'] / MiB:6.2f} MiB  "
          f"PSS {total['pss'] / MiB:6.2f} MiB  USS {total['uss'] / MiB:6.2f} MiB")  # fmt: skip
    if app is not None:
        print(f"   (app pid {app} '{comm(app)}' excluded; target: <= 1.0x conmon's RSS and USS)")


# --- 4: profile -------------------------------------------------------------------------------

#: Runs as ``python -c`` in place of ``rkt``; wraps the run path and logs "pid ns event" lines.
HARNESS = r"""
import os, sys, time
_T0 = time.monotonic_ns()
_LOG = os.open(os.environ["RKT_BENCH_LOG"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
def ev(name, t=None):
    os.write(_LOG, f"{os.getpid()} {t or time.monotonic_ns()} {name}\n".encode())
def wrap(owner, attr, name):
    inner = getattr(owner, attr)
    def wrapper(*a, **k):
        ev(name + ">")
        try:
            return inner(*a, **k)
        finally:
            ev(name + "<")
    setattr(owner, attr, wrapper)
ev("%(stage)s:start", _T0)
%(body)s
"""

STAGE0 = r"""
import rkt.cli.main, rkt.cli.run, rkt.cli.prepare, rkt.fetch, rkt.store, rkt.stage0.prepare
import rkt.stage0.run, rkt.datadir
ev("stage0:imported")
from rkt.fetch import Fetcher
wrap(Fetcher, "fetch", "fetch")
wrap(rkt.stage0.prepare, "prepare", "prepare")
wrap(rkt.stage0.prepare, "_mount_overlay", "overlay")
import rkt.stage1.executor.run as entry
%(stage1)s
code = rkt.cli.main.main(sys.argv[1:], own_process=True)
ev("stage0:exit")
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)  # as the rkt command does (rkt.cli.main.entry)
"""

# rkt run's process runs stage1's main and becomes the monitor (an exec); the first process
# and PID 1 are its forks, so the wrappers installed here are theirs too.
STAGE1 = r"""
_main = entry.main
def main(*a, **k):
    ev("stage1:start")
    import rkt.stage1.executor.launcher
    ev("stage1:imported")
    return _main(*a, **k)
entry.main = main
import rkt.stage1.executor.launcher as r
wrap(r, "load", "load")
wrap(r, "plan_pod", "plan")
wrap(r, "prepare_pod_files", "pod-files")
wrap(r, "_record_isolators", "isolators")
wrap(r, "_place_cgroups", "cgroups")
wrap(r.Start, "first_process", "first")
wrap(r.Start, "pid1", "pid1")
wrap(r, "apply_mounts", "mounts")
_execv, _execve = os.execv, os.execve
def execv(*a):
    ev("exec-monitor")
    _execv(*a)
def execve(*a):
    ev("exec-init")
    _execve(*a)
r.os.execv, r.os.execve = execv, execve
"""


def profile(bench: Bench, runs: int) -> None:
    print("\n4. profile of one `rkt run --net=none ID` running /bin/true")
    env = dict(bench.env)
    base = {
        "python -c pass": [PYTHON, "-c", "pass"],
        "python -S -c pass": [PYTHON, "-S", "-c", "pass"],
        "python -I -S -c pass": [PYTHON, "-I", "-S", "-c", "pass"],
        "import rkt.cli.main": [PYTHON, "-c", "import rkt.cli.main"],
        "import stage0 run path": [PYTHON, "-c", STAGE0.split('ev("stage0', 1)[0]],
        "import stage1 launcher": [PYTHON, "-c", "import rkt.stage1.executor.launcher"],
        "import rkt.stage1.executor.run": [PYTHON, "-c", "import rkt.stage1.executor.run"],
        "rkt version": bench.rkt("version"),
        "rkt run (plain)": bench.rkt_run(),
    }
    for name, command in base.items():
        times = []
        for _ in range(runs):
            times.append(timed(command, env=env))
            bench.gc()
        print(f"   {name:26} {ms(statistics.median(times))}")

    stage0 = HARNESS % {"stage": "stage0", "body": STAGE0 % {"stage1": STAGE1}}
    phases: dict[str, list[float]] = {}
    for i in range(runs):
        log = bench.top / f"profile-{i}.log"
        env1 = env | {"RKT_BENCH_LOG": str(log)}
        command = [PYTHON, "-c", stage0, f"--dir={bench.data}", "--insecure-options=image",
                   "run", "--net=none", bench.image_id]  # fmt: skip
        t0 = time.monotonic_ns()
        timed(command, env=env1)
        t_end = time.monotonic_ns()
        bench.gc()
        if os.environ.get("BENCH_DEBUG"):
            print(log.read_text())
        for name, value in breakdown(log.read_text(), t0, t_end).items():
            phases.setdefault(name, []).append(value)
    bench.gc()
    total = statistics.median(phases.pop("total"))
    print(f"\n   breakdown (harness, median of {runs}; total {ms(total)}):")
    for name, values in phases.items():
        t = statistics.median(values)
        print(f"   {name:44} {ms(t)}  {t / total * 100:5.1f}%")

    done = subprocess.run([PYTHON, "-X", "importtime", "-m", "rkt.cli.main",
                           f"--dir={bench.data}", "--insecure-options=image", "run",
                           "--net=none", bench.image_id], capture_output=True, text=True,
                          env=env, check=False)  # fmt: skip
    stage1_imports = subprocess.run(
        [PYTHON, "-X", "importtime", "-c", "import rkt.stage1.executor.run"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    bench.gc()
    for title, text in (("stage0 (rkt run)", done.stderr), ("stage1", stage1_imports.stderr)):
        print(f"\n   -X importtime, {title}: top-level packages by cumulative time")
        for cumulative, package in top_imports(text):
            print(f"   {package:44} {cumulative / 1000:8.1f} ms")


def breakdown(text: str, t0: int, t_end: int) -> dict[str, float]:
    events: dict[str, int] = {}
    pids: dict[str, int] = {}
    for line in text.splitlines():
        pid, t, name = line.split()
        events.setdefault(name, int(t))  # first occurrence
        pids.setdefault(name, int(pid))
    e = events

    def span(a: str, b: str) -> float:
        return (e[b] - e[a]) / 1e9

    out = {
        "stage0 interpreter start": (e["stage0:start"] - t0) / 1e9,
        "stage0 imports (run path)": span("stage0:start", "stage0:imported"),
        "stage0 argv/config": span("stage0:imported", "fetch>"),
        "fetch/store lookup (Fetcher.fetch)": span("fetch>", "fetch<"),
        "prepare (total)": span("prepare>", "prepare<"),
        "  of which overlay mount": span("overlay>", "overlay<"),
        "prepare -> stage1 main": span("prepare<", "stage1:start"),
        "stage1 imports": span("stage1:start", "stage1:imported"),
        "stage1 load + plan": span("load>", "plan<"),
        "pod files + isolators (seccomp BPF)": span("pod-files>", "isolators<"),
        "-> first process forked": span("isolators<", "first>"),
        "cgroups placed (caller)": span("cgroups>", "cgroups<"),
        "first process: namespaces -> PID 1": span("first>", "pid1>"),
        "PID 1 in Python: mounts": span("mounts>", "mounts<"),
        "PID 1 in Python: -> exec init": span("mounts<", "exec-init"),
        "caller: -> exec monitor": span("cgroups<", "exec-monitor"),
        "exec init -> all exited (compiled side, app)": (t_end - e["exec-init"]) / 1e9,
        "total": (t_end - t0) / 1e9,
    }
    return out


def top_imports(text: str, count: int = 12) -> list[tuple[int, str]]:
    totals: dict[str, int] = {}
    for line in text.splitlines():
        if not line.startswith("import time:") or "imported package" in line:
            continue
        _, cumulative, name = line[len("import time:") :].split("|")
        if not name.startswith(" ") or name[1] == " ":
            continue  # only top-level entries (no indentation)
        package = name.strip().split(".")[0]
        totals[package] = totals.get(package, 0) + int(cumulative)
    return sorted(((v, k) for k, v in totals.items()), reverse=True)[:count]


# --- main -------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21, help="runs per subject in 1 and 4")
    parser.add_argument("--pods", type=int, default=20, help="pods started at once in 2")
    parser.add_argument("--batches", type=int, default=5, help="repetitions of 2")
    parser.add_argument("--no-peers", action="store_true", help="rkt only")
    parser.add_argument("--profile", action="store_true", help="also profile the run path")
    parser.add_argument("--only-profile", action="store_true")
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/run.py: needs root")
    peers = not args.no_peers and not args.only_profile
    if peers and not all(shutil.which(tool) for tool in ("runc", "podman")):
        sys.exit("bench/run.py: runc and podman are needed (run bench/setup-peers.sh)")
    top = Path(tempfile.mkdtemp(prefix="rkt-bench-run-", dir="/var/tmp"))
    bench = Bench(top, peers)
    try:
        bench.setup()
        if not args.only_profile:
            bench.single(args.runs)
            bench.concurrent(args.pods, args.batches)
            bench.memory()
        if args.profile or args.only_profile:
            profile(bench, args.runs)
    finally:
        cleanup(bench)
    return 0


def cleanup(bench: Bench) -> None:
    bench.gc()
    if bench.peers:
        subprocess.run([*bench.podman, "rm", "-a", "-f", "-t", "0"], capture_output=True,
                       check=False)  # fmt: skip
        listed = subprocess.run(["runc", "list", "-q"], capture_output=True, text=True,
                                check=False)  # fmt: skip
        for cid in listed.stdout.split():
            if cid.startswith(f"bench-{os.getpid()}-"):
                subprocess.run(["runc", "delete", "-f", cid], capture_output=True, check=False)
        subprocess.run([*bench.podman, "system", "reset", "-f"], capture_output=True,
                       check=False)  # fmt: skip
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        mounts = [line.split()[4] for line in f if line.split()[4].startswith(f"{bench.top}/")]
    for target in sorted(mounts, key=len, reverse=True):
        subprocess.run(["umount", "-l", target], check=False)
    shutil.rmtree(bench.top, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
