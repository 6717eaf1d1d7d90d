"""``rkt image list`` with 500 images in the store, as a process, against peers in the same run.

Target: under 150 ms for the whole process. Peers: the interpreter alone (``python -c pass``),
the interpreter importing the CLI, and the sqlite3 shell selecting the same rows (when
installed). Run: .venv/bin/python bench/image_list.py [--images N] [--runs N]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def command(*argv: str) -> Callable[[], object]:
    return lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def populate(root: Path, count: int) -> Path:
    """A store holding ``count`` small images, imported the normal way."""
    from appc.aci import build
    from rkt.datadir import DataDir
    from rkt.store import Store

    data = root / "data"
    with Store(DataDir(data)) as store:
        for n in range(count):
            layout = root / f"l{n}"
            (layout / "rootfs/bin").mkdir(parents=True)
            manifest = {
                "acKind": "ImageManifest",
                "acVersion": "0.8.11",
                "name": f"example.com/app{n % 50}",
                "labels": [{"name": "version", "value": f"1.{n}"}],
            }
            (layout / "manifest").write_text(json.dumps(manifest))
            (layout / "rootfs/bin/app").write_text(str(n))
            build(layout, root / f"{n}.aci", compression="none")
            store.import_aci(root / f"{n}.aci")
            shutil.rmtree(layout)
            (root / f"{n}.aci").unlink()
    return data


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=500)
    parser.add_argument("--runs", type=int, default=10)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-image-list-") as tmp:
        data = populate(Path(tmp), options.images)
        listing = [sys.executable, "-m", "rkt.cli.main", "image", "list", "--dir", str(data)]
        out = subprocess.run(listing, check=True, capture_output=True, text=True).stdout
        assert len(out.splitlines()) == options.images + 1
        rows: list[tuple[str, float]] = [
            ("python -c pass", best_of(options.runs, command(sys.executable, "-c", "pass"))),
            (
                "python -c 'import rkt.cli.main'",
                best_of(options.runs, command(sys.executable, "-c", "import rkt.cli.main")),
            ),
        ]
        sqlite = shutil.which("sqlite3")
        if sqlite:
            query = "SELECT id, name, labels, import_time, last_used, size FROM images"
            db = str(data / "cas/db/index.sqlite")
            rows.append(
                ("sqlite3 db 'select …'", best_of(options.runs, command(sqlite, db, query)))
            )
        rows.append(("rkt image list", best_of(options.runs, command(*listing))))
        rows.append(
            (
                "rkt image list --format=json",
                best_of(options.runs, command(*listing, "--format=json")),
            )
        )
        rows.append(("rkt image list --full", best_of(options.runs, command(*listing, "--full"))))
        base = rows[0][1]
        print(
            f"{options.images} images, best of {options.runs} runs "
            "(target: rkt image list < 150 ms)"
        )
        for name, seconds in rows:
            print(f"  {name:<34} {seconds * 1000:8.1f} ms  {seconds / base:5.2f}x python -c pass")


if __name__ == "__main__":
    main()
