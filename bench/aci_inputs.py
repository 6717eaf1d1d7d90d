"""Inputs shared by the ACI benchmarks: image layouts and archives created under a temp dir."""

from __future__ import annotations

import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

MANIFEST = b'{"acKind":"ImageManifest","acVersion":"0.8.11","name":"example.com/bench"}'
VENV_BIN = Path(sys.executable).parent
ACTOOL = str(VENV_BIN / "actool")


def big_layout(root: Path, size: int) -> Path:
    """A layout whose rootfs holds one file of ``size`` bytes (sparse: quick to create)."""
    layout = root / "big-layout"
    (layout / "rootfs").mkdir(parents=True)
    (layout / "manifest").write_bytes(MANIFEST)
    with open(layout / "rootfs" / "blob", "wb") as f:
        f.truncate(size)
    return layout


def many_files_layout(root: Path, count: int, max_size: int = 8192) -> Path:
    """A layout with ``count`` files of 0..max_size random bytes, 100 per directory."""
    rng = random.Random(1)
    layout = root / "many-layout"
    rootfs = layout / "rootfs"
    rootfs.mkdir(parents=True)
    (layout / "manifest").write_bytes(MANIFEST)
    for i in range(count):
        directory = rootfs / f"d{i // 100:04}"
        if i % 100 == 0:
            directory.mkdir()
        (directory / f"f{i % 100:03}").write_bytes(rng.randbytes(rng.randint(0, max_size)))
    return layout


def best_of(runs: int, fn: Callable[[], object]) -> float:
    """The fastest of ``runs`` timings of ``fn`` (after one warm-up run), in seconds."""
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def shell(command: str) -> Callable[[], object]:
    return lambda: subprocess.run(command, shell=True, check=True, stdout=subprocess.DEVNULL)


def report(rows: list[tuple[str, float]], baseline: str) -> None:
    base = dict(rows)[baseline]
    width = max(len(name) for name, _ in rows)
    for name, seconds in rows:
        print(f"  {name:<{width}}  {seconds * 1000:10.3f} ms  {seconds / base:7.2f}x")
    print(
        f"  (ratios against {baseline}; median of all: "
        f"{statistics.median(s for _, s in rows) * 1000:.1f} ms)"
    )
