"""``rkt --help``, ``rkt VERB --help`` for every command, and ``rkt version``, as processes, in
the same run, against the interpreter alone (``python -c pass``) and the reference ``actool``
(Go) printing its help when installed.

Target: every help page under 60 ms for the whole process. Reported: the best of N runs of
each, and each one's ratio to ``rkt version``. Run: .venv/bin/python bench/cli.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

TARGET_MS = 60.0


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def command(*argv: str) -> Callable[[], object]:
    return lambda: subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()
    rkt = str(Path(sys.executable).parent / "rkt")
    from rkt.cli.commands import COMMANDS

    cases: dict[str, Callable[[], object]] = {
        "python -c pass": command(sys.executable, "-c", "pass"),
        "rkt version": command(rkt, "version"),
        "rkt --help": command(rkt, "--help"),
    }
    for entry in COMMANDS:
        if not entry.hidden and entry.path != ("help",):
            words = " ".join(entry.path)
            cases[f"rkt {words} --help"] = command(rkt, *entry.path, "--help")
    if shutil.which("actool"):
        cases["actool (Go) help"] = command("actool", "help")
    results = {name: best_of(args.runs, action) * 1000 for name, action in cases.items()}
    version = results["rkt version"]
    print(f"best of {args.runs} runs, {os.cpu_count()} CPUs; target for help: < {TARGET_MS} ms")
    over = []
    for name, ms in results.items():
        print(f"  {name:40} {ms:7.1f} ms   x{ms / version:5.2f} of rkt version")
        if "--help" in name and ms >= TARGET_MS:
            over.append(name)
    print("over the target: " + (", ".join(over) if over else "none"))


if __name__ == "__main__":
    main()
