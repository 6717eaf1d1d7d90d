"""The chaos rounds and the soak, shared by their CI tests (short) and ``bench/soak.py`` (the
full runs, whose figures the README reports).

Both run in a :class:`~tests.integration.hostkit.World` whose ``default`` network is its own
(a random private subnet, leases under the world's directory), so ``--net=default`` pods never
meet another test run's. Every command's output is kept: a ``Traceback`` anywhere counts, and
so does any failure that is not a fault the run injected itself. Waits are for conditions with
deadlines; the only pauses are the random moments at which faults are injected.

- :func:`chaos` — seeded rounds: pods started in the background on ``none`` and ``default``
  (some with ``--private-users``), ``rkt fetch``, ``rkt stop`` and ``rkt gc`` running, and
  SIGKILL at random moments for ``rkt run`` (before and after it became the monitor), the
  monitor, the pod's PID 1, the teardown, ``rkt stop``, ``rkt gc`` and ``rkt fetch``. After each
  round every pod ``rkt list`` shows is checked against the processes that hold it, the
  remaining pods are stopped, ``rkt gc`` runs, and the host must be clean
  (:meth:`World.leftovers`) and the store must verify.
- :func:`soak` — pods of mixed shapes (one app and several, ``--net=none`` and
  ``--net=default``, a host volume, ``--private-users``, a long-running pod that is entered
  and stopped) started and stopped by concurrent workers while observers run ``rkt list``
  (timed), ``status``, ``image gc`` and ``gc`` against them; then gc, and no leaks.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration import podkit
from tests.integration.hostkit import World, holders, kill_pod, wait_for

DEADLINE = 120.0


@dataclass
class Report:
    pods_started: int = 0
    pods_stopped: int = 0
    kills: int = 0
    kills_by_target: dict[str, int] = field(default_factory=dict)
    commands: int = 0
    hostile_inputs: int = 0
    failures: list[str] = field(default_factory=list)
    tracebacks: list[str] = field(default_factory=list)
    leaks: list[str] = field(default_factory=list)
    list_latencies: list[float] = field(default_factory=list)
    rounds: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def killed(self, target: str) -> None:
        with self.lock:
            self.kills += 1
            self.kills_by_target[target] = self.kills_by_target.get(target, 0) + 1

    def seen(self, what: str, done: subprocess.CompletedProcess[str]) -> None:
        with self.lock:
            self.commands += 1
            if "Traceback" in done.stderr or "Traceback" in done.stdout:
                self.tracebacks.append(f"{what}: {done.stderr[-2000:]}")

    def fail(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)

    def latency(self) -> tuple[float, float, float]:
        """p50, p99 and max of ``rkt list``, in milliseconds."""
        values = sorted(self.list_latencies)
        if not values:
            return 0.0, 0.0, 0.0
        pick = lambda q: values[min(len(values) - 1, int(q * len(values)))]  # noqa: E731
        return pick(0.5) * 1000, pick(0.99) * 1000, values[-1] * 1000

    def summary(self) -> dict[str, object]:
        p50, p99, worst = self.latency()
        return {
            "rounds": self.rounds,
            "pods started": self.pods_started,
            "pods stopped": self.pods_stopped,
            "kills": self.kills,
            "kills by target": dict(sorted(self.kills_by_target.items())),
            "commands": self.commands,
            "hostile inputs": self.hostile_inputs,
            "failures": len(self.failures),
            "tracebacks": len(self.tracebacks),
            "leaks": len(self.leaks),
            "rkt list ms p50/p99/max": [round(p50, 1), round(p99, 1), round(worst, 1)],
        }


def _run(
    world: World, report: Report, *args: str, timeout: float = DEADLINE
) -> subprocess.CompletedProcess[str]:
    done = world.rkt(*args, timeout=timeout)
    report.seen(" ".join(args[:3]), done)
    return done


def _spawn(world: World, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(world.argv(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)  # fmt: skip


def _finish(
    report: Report, what: str, proc: subprocess.Popen[str], timeout: float = DEADLINE
) -> subprocess.CompletedProcess[str]:
    out, err = proc.communicate(timeout=timeout)
    done = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    report.seen(what, done)
    return done


# --- truthful listing ---------------------------------------------------------------------------


def check_listing(world: World, report: Report) -> None:
    """Every pod ``rkt list`` shows is in the state its processes say: running exactly when
    a process holds it (its monitor, PID 1) and nothing else does; nothing fails to list."""
    done = _run(world, report, "list", "--format=json")
    if done.returncode != 0:
        report.fail(f"rkt list failed: {done.stderr}")
        return
    for pod in json.loads(done.stdout) or []:
        uuid, state = pod["name"], pod["state"]
        held = holders(uuid)
        if state == "running" and not held:
            # It may have exited since it was listed: ask again before calling it a lie.
            again = _run(world, report, "status", uuid)
            if "state=running" in again.stdout and not holders(uuid):
                report.fail(f"pod {uuid} listed running but no process holds it")
        elif state in ("exited", "exited garbage", "prepared", "aborted prepare") and any(
            "rkt-stage1 init" in cmd for cmd in held.values()
        ):
            report.fail(f"pod {uuid} listed {state} but its PID 1 runs")


# --- chaos --------------------------------------------------------------------------------------

TARGETS = ("rkt run", "monitor", "pid 1", "teardown", "rkt stop", "rkt gc", "rkt fetch")


def _pod_of(save: Path) -> str:
    with contextlib.suppress(OSError):
        return save.read_text().strip()
    return ""


def _kill_holder(uuid: str, needle: str) -> bool:
    for pid, cmd in holders(uuid).items():
        if needle in cmd:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                return True
    return False


def chaos_round(world: World, report: Report, rng: random.Random, pods: int = 4) -> None:
    """One round: see the module's docstring."""
    report.rounds += 1
    started: list[tuple[subprocess.Popen[str], Path, str]] = []
    for n in range(pods):
        save = world.root / f"uuid-{report.rounds}-{n}"
        net = rng.choice(["none", "default"])
        flags = ["--private-users"] if rng.random() < 0.25 else []
        image = "sleeper" if rng.random() < 0.8 else "quick"
        proc = _spawn(world, "--insecure-options=image", "run", f"--net={net}", *flags,
                      f"--uuid-file-save={save}", str(world.images[image]))  # fmt: skip
        started.append((proc, save, image))
        report.pods_started += 1
    # Side commands: a fetch of an image the store no longer has, a gc, stops of a few pods.
    _run(world, report, "image", "rm", *world.fetched)  # may fail: not there
    world.fetched.clear()
    fetch = _spawn(world, "--insecure-options=image", "fetch", "--full", str(world.images["big"]))
    gc = _spawn(world, "gc", "--grace-period=0s")
    victims = rng.sample(TARGETS, k=rng.randint(2, 4))
    side: dict[str, subprocess.Popen[str]] = {"rkt fetch": fetch, "rkt gc": gc}
    for target in victims:
        time.sleep(rng.uniform(0.0, 0.4))  # a random moment to strike, not a wait for a state
        if target in ("rkt fetch", "rkt gc") and side[target].poll() is None:
            side[target].kill()
            report.killed(target)
        elif target == "rkt run":
            proc, save, _image = rng.choice(started)
            if proc.poll() is None:
                proc.kill()  # before or after it became the monitor, as the moment falls
                report.killed(target)
        elif target in ("monitor", "pid 1"):
            proc, save, _image = rng.choice(started)
            uuid = _pod_of(save)
            needle = "rkt-stage1 monitor" if target == "monitor" else "rkt-stage1 init"
            if uuid and _kill_holder(uuid, needle):
                report.killed(target)
        elif target in ("rkt stop", "teardown"):
            proc, save, _image = rng.choice(started)
            uuid = _pod_of(save)
            if not uuid:
                continue
            stop = _spawn(world, "stop", uuid)
            if target == "rkt stop":
                time.sleep(rng.uniform(0.0, 0.2))
                if stop.poll() is None:
                    stop.kill()
                    report.killed(target)
                _finish(report, "stop", stop)
                continue
            # The teardown runs for a moment once PID 1 has exited: catch it then.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                if _kill_holder(uuid, "rkt.stage0.teardown"):
                    report.killed(target)
                    break
                time.sleep(0.001)
            _finish(report, "stop", stop)
    for name, proc in side.items():
        done = _finish(report, name, proc)
        if done.returncode not in (0, -signal.SIGKILL):
            report.fail(f"{name} exited {done.returncode}: {done.stderr[-500:]}")
        if name == "rkt fetch" and done.returncode == 0:
            world.fetched.append(done.stdout.strip())
    check_listing(world, report)
    # End of round: stop what runs, wait for every pod's processes to go, collect.
    for _proc, save, _image in started:
        uuid = _pod_of(save)
        if uuid:
            world.uuids.add(uuid)
            if holders(uuid):
                _run(world, report, "stop", "--force", uuid)
                report.pods_stopped += 1
    for proc, save, _image in started:
        uuid = _pod_of(save)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(DEADLINE)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if uuid:
            with contextlib.suppress(AssertionError):
                wait_for(lambda u=uuid: not holders(u), 30, f"pod {uuid} to end")  # type: ignore[misc]
            if holders(uuid):
                kill_pod(uuid)
        out, err = proc.communicate()
        report.seen("run", subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    check_listing(world, report)
    settle(world, report)


def settle(world: World, report: Report) -> None:
    """gc until the world is clean; what is left then is a leak. The store must verify."""
    said = ""
    for _ in range(2):
        done = _run(world, report, "gc", "--grace-period=0s")
        said += done.stderr
        if done.returncode != 0:
            report.fail(f"rkt gc exited {done.returncode}: {done.stderr[-500:]}")
    verify = _run(world, report, "image", "verify")
    if verify.returncode != 0:
        report.fail(f"rkt image verify: {verify.stdout[-500:]}")
    _run(world, report, "image", "gc")
    left = world.leftovers()
    if left:
        listed = world.rkt("list", "--full", "--no-legend").stdout
        report.leaks.append(json.dumps({**left, "gc said": said[-800:], "list": listed})[:3000])


def chaos(world: World, rounds: int, seed: int) -> Report:
    report = Report()
    rng = random.Random(seed)
    for _ in range(rounds):
        chaos_round(world, report, rng)
    return report


# --- the soak -----------------------------------------------------------------------------------

SHAPES = ("one app, none", "one app, default", "two apps, default", "volume, none",
          "private users, none", "long-running: enter, stop")  # fmt: skip


def _soak_pod(world: World, report: Report, rng: random.Random, n: int) -> None:
    shape = SHAPES[n % len(SHAPES)] if n < len(SHAPES) else rng.choice(SHAPES)
    image = str(world.images["quick"])
    base = ("--insecure-options=image", "run")
    if shape == "one app, none":
        done = _run(world, report, *base, "--net=none", image)
    elif shape == "one app, default":
        done = _run(world, report, *base, "--net=default", image)
    elif shape == "two apps, default":
        done = _run(world, report, *base, "--net=default", image, "--name=a", image, "--name=b")
    elif shape == "private users, none":
        done = _run(world, report, *base, "--net=none", "--private-users", image)
    elif shape == "volume, none":
        source = world.root / "volumes" / f"v{n}"
        source.mkdir(parents=True)
        done = _run(world, report, *base, "--net=none",
                    f"--volume=data,kind=host,source={source}",
                    str(world.images["volume"]), "--mount=volume=data,target=/data")  # fmt: skip
        if done.returncode == 0 and not (source / "x").exists():
            report.fail(f"pod {n}: the volume's file was not written")
    else:
        save = world.root / f"soak-{n}"
        proc = _spawn(world, *base, "--net=default", f"--uuid-file-save={save}",
                      str(world.images["sleeper"]))  # fmt: skip
        report.pods_started += 1
        try:
            uuid = wait_for(lambda: save.exists() and save.read_text().strip(), 60, "uuid")
            world.uuids.add(uuid)
            ready = world.rkt("status", "--wait-ready=60s", uuid)
            if "state=running" not in ready.stdout:
                report.fail(f"long-running pod {uuid} not ready: {ready.stdout} {ready.stderr}")
            entered = _run(world, report, "enter", uuid, "/bin/echo", "inside")
            if entered.returncode != 0 or "inside" not in entered.stdout:
                report.fail(f"enter {uuid}: {entered.returncode} {entered.stderr[-300:]}")
            stopped = _run(world, report, "stop", uuid)
            if stopped.returncode != 0:
                report.fail(f"stop {uuid}: {stopped.stderr[-300:]}")
            done = _finish(report, "run", proc)
            report.pods_stopped += 1
            if done.returncode not in (0, 128 + signal.SIGTERM, 143):
                report.fail(
                    f"long-running pod {uuid} exited {done.returncode}: {done.stderr[-300:]}"
                )
        except (AssertionError, subprocess.TimeoutExpired) as err:
            report.fail(f"long-running pod {n}: {err}")
            proc.kill()
            proc.communicate()
        return
    report.pods_started += 1
    report.pods_stopped += 1
    if done.returncode != 0:
        report.fail(f"pod {n} ({shape}) exited {done.returncode}: {done.stderr[-300:]}")


def _observe(world: World, report: Report, stop: threading.Event, rng: random.Random) -> None:
    turn = 0
    while not stop.is_set():
        turn += 1
        began = time.monotonic()
        done = _run(world, report, "list", "--no-legend", "--full")
        report.list_latencies.append(time.monotonic() - began)
        if done.returncode != 0:
            report.fail(f"rkt list: {done.stderr[-300:]}")
        # A pod's first row starts with its UUID; its other apps' rows start with a blank.
        uuids = [line.split()[0] for line in done.stdout.splitlines() if line[:1].strip()]
        if uuids:
            status = _run(world, report, "status", rng.choice(uuids))
            if status.returncode != 0 and "no matches found" not in status.stderr:
                report.fail(f"rkt status: {status.stderr[-300:]}")
        if turn % 10 == 0:
            for verb in (("gc", "--grace-period=0s"), ("image", "gc")):
                done = _run(world, report, *verb)
                if done.returncode != 0:
                    report.fail(f"rkt {' '.join(verb)}: {done.stderr[-300:]}")


def soak(world: World, pods: int, workers: int, seed: int) -> Report:
    report = Report()
    rng = random.Random(seed)
    numbers = list(range(pods))
    lock = threading.Lock()

    def worker(wid: int) -> None:
        own = random.Random(seed * 1000 + wid)
        while True:
            with lock:
                if not numbers:
                    return
                n = numbers.pop(0)
            try:
                _soak_pod(world, report, own, n)
            except Exception as err:  # the run goes on; the failure is counted
                report.fail(f"pod {n}: {err!r}")

    stop = threading.Event()
    observer = threading.Thread(target=_observe, args=(world, report, stop, rng))
    observer.start()
    threads = [threading.Thread(target=worker, args=(w,)) for w in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stop.set()
    observer.join()
    settle(world, report)
    return report


# --- the world's images -------------------------------------------------------------------------


def make_world(root: Path, seed: int) -> World:
    """A world whose ``default`` network is its own, with the images both runs need."""
    world = World.make(root, seed, network="default")
    base = root / "base"
    out = root / "images"
    world.images["volume"] = podkit.make_image(
        base, out, "volume", {"exec": ["/bin/sh", "-c", "echo x > /data/x"],
                              "mountPoints": [{"name": "data", "path": "/data"}]},
    )  # fmt: skip
    filler = os.urandom(4 << 20)
    world.images["big"] = podkit.make_image(
        base, out, "big", {"exec": ["/bin/true"]},
        customize=lambda rootfs: [(rootfs / f"f{i}").write_bytes(filler[i:] + filler[:i])
                                  for i in range(4)],
    )  # fmt: skip
    return world


def hostile_inputs(world: World, report: Report) -> None:
    """``rkt fetch`` of every archive of tests.hostile's corpus: each is refused with one
    line, and the store is as it was."""
    from tests.hostile import archives, write_archives

    before = sorted(p.name for p in (world.data / "cas" / "blob").rglob("sha512-*"))
    for case, path in write_archives(world.root / "hostile", archives()):
        done = _run(world, report, "--insecure-options=image", "fetch", str(path))
        report.hostile_inputs += 1
        errors = [line for line in done.stderr.splitlines() if "warning:" not in line]
        if done.returncode != 254 or len(errors) != 1:
            report.fail(
                f"hostile input {case.what!r}: exit {done.returncode}, {done.stderr[-300:]}"
            )
    after = sorted(p.name for p in (world.data / "cas" / "blob").rglob("sha512-*"))
    if after != before:
        report.leaks.append(f"hostile inputs left blobs: {sorted(set(after) - set(before))}")
