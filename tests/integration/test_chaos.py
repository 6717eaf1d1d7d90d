"""Kill -9 anywhere (issue "Faults"): seeded chaos rounds SIGKILL ``rkt run`` (before and
after it became the monitor), the monitor, the pod's PID 1, the teardown, ``rkt stop``,
``rkt gc`` and ``rkt fetch`` at random moments; after each round ``rkt gc`` leaves a clean
host, the store verifies, and every pod was listed truthfully (tests/integration/loadkit.py).

CI runs a few rounds with a seed from the environment (``ROCKET_CHAOS_SEED``, else random and
printed, so a failure can be replayed); ``python bench/soak.py --full`` runs many.
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

ROUNDS = 4


def test_chaos_rounds_leave_a_clean_host(tmp_path: Path) -> None:
    seed = int(os.environ.get("ROCKET_CHAOS_SEED") or int.from_bytes(os.urandom(4), "big"))
    print(f"chaos seed {seed} (ROCKET_CHAOS_SEED={seed} replays it)")
    world = loadkit.make_world(tmp_path, seed)
    try:
        report = loadkit.chaos(world, ROUNDS, seed)
    finally:
        world.cleanup()
    print(report.summary())
    assert report.failures == [], report.failures
    assert report.tracebacks == [], report.tracebacks
    assert report.leaks == [], report.leaks
    assert report.kills > 0
