"""The cgroup move primer that ``rkt run`` and ``run-prepared`` start first (rkt.linux.cgroup).

stage1 moves into the pod's cgroup some 15 ms after the command begins, and the kernel makes
that move wait out an RCU grace period unless another move took the lock just before; the
primer's move, started now, pays that wait while the pod is prepared. Here, in stage0, so that
the CLI starts it without knowing of cgroups; a module of its own so that starting it loads
nothing else of the run path.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.linux.cgroup import MovePrimer

__all__ = ["MovePrimer", "start"]


def start() -> MovePrimer:
    """The primer, started; ``reap()`` it before the pod starts (no zombie child for the
    pod's lifetime) and again at the end (reaping twice is harmless)."""
    from rkt.linux.cgroup import MovePrimer

    return MovePrimer()
