"""``python -m rkt.stage1.fly.gc --pod-dir=DIR``: clean up after a fly pod.

The fly app's own mounts (/dev, /proc, /sys, /tmp, volumes) live in its mount namespace and
went with it; what is left in the host's namespace is what stage0 mounted (the app's rootfs
overlay). rkt's fly gc did nothing and left that to stage0; here the default flavor's gc does
the same unmounting (it also finds no network and no cgroup to remove for a fly pod), so a
pod whose stage1 crashed half-way is cleaned the same way under both flavors.
"""

from __future__ import annotations

import sys

from rkt.stage1.executor.gc import gc as _default_gc
from rkt.stage1.executor.gc import main as _default_main


def gc(pod_dir: str) -> list[str]:
    """Detach every mount under ``pod_dir``; the errors met (none fatal)."""
    return _default_gc(pod_dir)


def main(argv: list[str] | None = None) -> int:
    return _default_main(argv)


if __name__ == "__main__":
    sys.exit(main())
