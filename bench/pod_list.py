"""``rkt list`` over 200 pods, as a whole process, against ``python -c pass`` in the same run.

Target: under 150 ms per ``rkt list``. Prints the medians and their ratio.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.unit.test_pod_helpers import prepared

PODS = 200
RUNS = 15


def _median_ms(argv: list[str]) -> float:
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(PODS):
            prepared(Path(tmp) / "pods", f"app{i % 3}", "sidecar")
        rkt = [sys.executable, "-m", "rkt.cli.main", "list", "--dir", tmp]
        lines = subprocess.run(rkt, check=True, capture_output=True, text=True).stdout
        assert len(lines.splitlines()) == 1 + 2 * PODS
        baseline = _median_ms([sys.executable, "-c", "pass"])
        table = _median_ms(rkt)
        as_json = _median_ms([*rkt, "--format=json"])
    print(f"python -c pass         {baseline:7.1f} ms")
    print(f"rkt list ({PODS} pods)    {table:7.1f} ms  ({table / baseline:.1f}x)")
    print(f"rkt list --format=json {as_json:7.1f} ms  ({as_json / baseline:.1f}x)")
    print(f"target < 150 ms: {'met' if table < 150 else 'MISSED'}")


if __name__ == "__main__":
    main()
