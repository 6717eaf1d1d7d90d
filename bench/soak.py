"""The reliability runs whose figures the README reports: chaos rounds (SIGKILL anywhere), the
soak (pods of mixed shapes started and stopped by concurrent workers while list, status,
enter, image gc and gc run against them) and the hostile inputs, all through the real CLI in a
world of their own (tests/integration/loadkit.py). Run as root.

    python bench/soak.py --full            # 40 chaos rounds, 200 pods with 4 workers
    python bench/soak.py                   # the short version CI runs (4 rounds, 18 pods)
    python bench/soak.py --seed=N ...      # replay a run

Prints one JSON object per part and a total; exits 1 if anything failed, leaked or printed a
traceback. ``rkt list`` latency (p50/p99/max, ms) is measured throughout the soak; it is a
figure to report, taken on whatever else the machine runs, not a pass/fail criterion.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.integration import loadkit


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="40 chaos rounds and 200 pods")
    parser.add_argument("--rounds", type=int, default=None, help="chaos rounds")
    parser.add_argument("--pods", type=int, default=None, help="soak pods")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--seed", type=int, default=int.from_bytes(os.urandom(4), "big"))
    options = parser.parse_args()
    rounds = options.rounds if options.rounds is not None else (40 if options.full else 4)
    pods = options.pods if options.pods is not None else (200 if options.full else 18)
    print(json.dumps({"seed": options.seed, "rounds": rounds, "pods": pods,
                      "workers": options.workers, "load": os.getloadavg()}))  # fmt: skip
    bad = 0
    totals: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="rocket-soak-") as tmp:
        for part in ("chaos", "soak"):
            world = loadkit.make_world(Path(tmp) / part, options.seed)
            began = time.monotonic()
            try:
                if part == "chaos":
                    report = loadkit.chaos(world, rounds, options.seed)
                else:
                    report = loadkit.soak(world, pods, options.workers, options.seed)
                    loadkit.hostile_inputs(world, report)
            finally:
                world.cleanup()
            summary = {"part": part, **report.summary(),
                       "seconds": round(time.monotonic() - began, 1)}  # fmt: skip
            print(json.dumps(summary), flush=True)
            for problem in report.failures + report.tracebacks + report.leaks:
                print(f"  {part}: {problem}", file=sys.stderr)
            bad += len(report.failures) + len(report.tracebacks) + len(report.leaks)
            for key in ("pods started", "pods stopped", "kills", "hostile inputs",
                        "failures", "tracebacks", "leaks"):  # fmt: skip
                value = summary[key]
                assert isinstance(value, int)
                totals[key] = totals.get(key, 0) + value
    print(json.dumps({"total": totals, "load": os.getloadavg()}))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
