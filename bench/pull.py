"""Pulling a Docker/OCI image from a local registry, ready to run: ``rkt fetch docker://``
against ``podman pull`` and ``skopeo copy docker://… oci:DIR`` + ``umoci raw unpack``, in
the same run, from the same docker-registry on 127.0.0.1 (plain HTTP: every client is told
it may).

The image: ~100 MB uncompressed in 5 layers (busybox-static, then four layers of 2,000
files each, half random and half repetitive so gzip has work to do), gzip-compressed, pushed
with skopeo. Each subject pulls into a fresh store each time (rkt: a new ``--dir``; podman: a
new ``--root``; skopeo+umoci: new directories), so every run transfers, verifies,
decompresses and writes everything. Runs are interleaved; medians. Targets (issue #12):
rkt <= 0.5x podman pull, <= 1.0x skopeo copy + umoci raw unpack.

Then ``rkt fetch --pull-policy=update`` of the unchanged image: the command's wall time and
the requests the registry saw (its access log). Target: one manifest request, <= 50 ms.

Run as root, after bench/setup-peers.sh: .venv/bin/python bench/pull.py [--runs N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import ocikit  # noqa: E402 (the layouts the tests build)

PYTHON = str(ROOT / ".venv" / "bin" / "python")
REPO = "bench/image:1"


def make_layout(top: Path, layers: int, files: int, size: int) -> Path:
    layout = ocikit.Layout(top / "layout")
    rng = random.Random(12)
    descriptors = [layout.layer(ocikit.busybox_entries())]
    for n in range(layers - 1):
        entries = [ocikit.directory(f"data{n}")]
        for f in range(files):
            half = size // 2
            body = rng.randbytes(half) + bytes([f % 251]) * (size - half)
            entries.append(ocikit.file(f"data{n}/f{f:05d}", body))
        descriptors.append(layout.layer(entries, "gzip"))
    config = {"Cmd": ["/bin/sh", "-c", "ls /data0 | wc -l"]}
    layout.tag(layout.image(descriptors, config, arch=ocikit.host_arch()), "1")
    return top / "layout"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_registry(top: Path) -> tuple[subprocess.Popen[bytes], str, Path]:
    port = free_port()
    log = top / "registry.log"
    config = top / "registry.yml"
    config.write_text(
        "version: 0.1\nlog:\n  level: info\n"
        f"storage:\n  filesystem:\n    rootdirectory: {top / 'registry'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n  secret: bench\n"
    )
    process = subprocess.Popen(
        ["docker-registry", "serve", str(config)], stdout=log.open("wb"), stderr=subprocess.STDOUT
    )
    deadline = time.monotonic() + 20
    while True:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                break
        if time.monotonic() > deadline or process.poll() is not None:
            sys.exit("bench/pull.py: docker-registry did not start")
        time.sleep(0.05)
    return process, f"127.0.0.1:{port}", log


def timed(command: list[str], env: dict[str, str] | None = None) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, env=env, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        sys.exit(f"bench/pull.py: {' '.join(command)} failed:\n{done.stderr.decode()}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--files", type=int, default=2000, help="files per data layer")
    parser.add_argument("--size", type=int, default=12_500, help="bytes per file")
    parser.add_argument(
        "--workdir",
        default=None,
        help="where the registry and every store go (default: a new directory in $TMPDIR); "
        "a tmpfs such as /dev/shm takes the disk out of the comparison",
    )
    options = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("bench/pull.py: run as root (podman and rkt write root-owned trees)")
    for tool in ("docker-registry", "skopeo", "umoci", "podman"):
        if shutil.which(tool) is None:
            sys.exit(f"bench/pull.py: {tool} is missing (run bench/setup-peers.sh)")
    top = Path(tempfile.mkdtemp(prefix="rkt-bench-pull-", dir=options.workdir))
    env = {**os.environ}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    subprocess.run([PYTHON, "-m", "compileall", "-q", str(ROOT / "src")], check=True)
    registry, host, log = start_registry(top)
    try:
        layout = make_layout(top, 5, options.files, options.size)
        ref = f"docker://{host}/{REPO}"
        subprocess.run(
            ["skopeo", "copy", "--quiet", "--dest-tls-verify=false", f"oci:{layout}:1", ref],
            check=True,
        )
        manifest = json.loads(
            subprocess.run(
                ["skopeo", "inspect", "--tls-verify=false", "--raw", ref],
                check=True,
                capture_output=True,
            ).stdout
        )
        compressed = sum(layer["size"] for layer in manifest["layers"])
        layers = len(manifest["layers"])
        print(f"image: {layers} layers, {compressed / 1e6:.1f} MB compressed; ~{layers - 1} x "
              f"{options.files * options.size / 1e6:.0f} MB of files and busybox uncompressed; "
              f"{options.runs} runs each, interleaved")  # fmt: skip

        counter = iter(range(1_000_000))

        def rkt() -> float:
            data = top / f"rkt-{next(counter)}"
            command = [PYTHON, "-m", "rkt.cli.main", f"--dir={data}",
                       "--insecure-options=image,http", "fetch", ref]  # fmt: skip
            return timed(command, env)

        def podman() -> float:
            n = next(counter)
            command = ["podman", f"--root={top}/podman-{n}", f"--runroot={top}/podman-run-{n}",
                       "pull", "--quiet", "--tls-verify=false", ref]  # fmt: skip
            return timed(command)

        def skopeo_umoci() -> float:
            n = next(counter)
            start = time.perf_counter()
            timed(["skopeo", "copy", "--quiet", "--src-tls-verify=false", ref,
                   f"oci:{top}/oci-{n}:1"])  # fmt: skip
            timed(["umoci", "raw", "unpack", "--image", f"{top}/oci-{n}:1", f"{top}/unpack-{n}"])
            return time.perf_counter() - start

        subjects: dict[str, Callable[[], float]] = {
            "rkt fetch": rkt,
            "podman pull": podman,
            "skopeo copy + umoci raw unpack": skopeo_umoci,
        }
        times: dict[str, list[float]] = {name: [] for name in subjects}
        for fn in subjects.values():
            fn()  # warm-up: page cache, registry cache, compiled bytecode
        for _ in range(options.runs):
            for name, fn in subjects.items():
                times[name].append(fn())
        medians = {name: statistics.median(values) for name, values in times.items()}
        print("\n1. pull into a fresh store, ready to run (median seconds)")
        for name, value in medians.items():
            print(f"   {name:<32} {value:7.3f} s   {[round(t, 3) for t in times[name]]}")
        podman_ratio = medians["rkt fetch"] / medians["podman pull"]
        skopeo_ratio = medians["rkt fetch"] / medians["skopeo copy + umoci raw unpack"]
        print(f"   rkt/podman {podman_ratio:6.2f}x  (target <= 0.50x)")
        print(f"   rkt/(skopeo+umoci) {skopeo_ratio:6.2f}x  (target <= 1.00x)")

        data = top / "rkt-update"
        base = [PYTHON, "-m", "rkt.cli.main", f"--dir={data}", "--insecure-options=image,http"]
        timed([*base, "fetch", ref], env)
        before = log.read_text().count('"HEAD /v2/') + log.read_text().count('"GET /v2/')
        updates = [timed([*base, "fetch", "--pull-policy=update", ref], env) for _ in range(10)]
        text = log.read_text()
        after = text.count('"HEAD /v2/') + text.count('"GET /v2/')
        requests = (after - before) / len(updates)
        print("\n2. rkt fetch --pull-policy=update of the unchanged image")
        print(f"   median {statistics.median(updates) * 1000:.1f} ms, best "
              f"{min(updates) * 1000:.1f} ms; {requests:g} registry request(s) per fetch "
              "(target: one manifest request, <= 50 ms)")  # fmt: skip
        news = [timed([*base, "fetch", "--pull-policy=new", ref], env) for _ in range(10)]
        startup = [timed([PYTHON, "-c", "pass"]) for _ in range(10)]
        new_ms, python_ms = statistics.median(news) * 1000, statistics.median(startup) * 1000
        print(f"   (for comparison: --pull-policy=new, no request, {new_ms:.1f} ms; "
              f"the interpreter alone {python_ms:.1f} ms)")  # fmt: skip
    finally:
        registry.terminate()
        registry.wait()
        for podman_root in top.glob("podman-*"):
            subprocess.run(["umount", "-R", str(podman_root / "overlay")], capture_output=True,
                           check=False)  # fmt: skip
        shutil.rmtree(top, ignore_errors=True)


if __name__ == "__main__":
    main()
