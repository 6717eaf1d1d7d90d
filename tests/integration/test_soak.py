"""The soak, short (issue "Load"): pods of mixed shapes started and stopped by 4 workers while
``rkt list``, ``status``, ``enter``, ``image gc`` and ``gc`` run against them; no failure, no
traceback, no leak afterwards, and the hostile corpus refused through the CLI meanwhile
(tests/integration/loadkit.py). ``python bench/soak.py --full`` runs 200 pods; the latency of
``rkt list`` is reported there, never asserted in a test.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.integration import loadkit, podkit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.root,
    pytest.mark.skipif(not podkit.is_root_with_busybox(), reason="needs root and busybox-static"),
    pytest.mark.skipif(shutil.which("iptables") is None, reason="needs iptables"),
]

PODS = 18
WORKERS = 4


def test_short_soak(tmp_path: Path) -> None:
    seed = int.from_bytes(os.urandom(4), "big")
    world = loadkit.make_world(tmp_path, seed)
    try:
        report = loadkit.soak(world, PODS, WORKERS, seed)
        loadkit.hostile_inputs(world, report)
    finally:
        world.cleanup()
    print(report.summary())
    assert report.failures == [], report.failures
    assert report.tracebacks == [], report.tracebacks
    assert report.leaks == [], report.leaks
    assert report.pods_started == PODS and report.list_latencies
