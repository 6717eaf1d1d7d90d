"""Tearing a pod's networks down when it exits, not only at ``rkt gc``/``rm`` (issue #6).

Two callers, one rule: the network of a pod is torn down (:func:`rkt.net.pod.teardown`: CNI DEL
of every cached attachment, newest first, ipMasq sweep, netns file removed) only by whoever
holds the pod's lock once the pod has exited, so that a running pod never loses its network and
two teardowns never run at once. ``net-info.json`` stays, for ``rkt status`` and ``rkt list``.

- :func:`after_run`: ``rkt run``/``run-prepared`` (stage0) still holds the lock when stage1 has
  exited, so it tears down then, before the lock is released; the pod is seen exited by no one
  before its network is gone.
- :func:`after_stop`: ``rkt stop`` waits up to :data:`STOP_WAIT` seconds for the pod's lock to
  be free (the pod has exited and stage0 has done its teardown), takes it, and tears down
  whatever is left: everything, if ``rkt run`` was killed (SIGKILL) and could not. rkt's own
  ``stop`` did not wait at all; the wait is bounded so that an app that ignores SIGTERM
  (stage1 kills it 10 s later) cannot hang a scheduler's stop; such a pod is torn down by
  stage0 when it ends, or by gc if stage0 is gone too. Pods with nothing to tear down
  (``--net=host``, fly, or already done) are not waited for, as before.

Teardown is idempotent (a DEL that succeeded removes its cache entry), so gc after either finds
nothing left to DEL and does not fail.

The pod's registration with the metadata service (``--mds-register``) ends at the same moment
and under the same rule (:func:`_unregister`): the service forgets the pod before anyone sees it
exited, and never while its PID 1 still runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Callable
from pathlib import Path

from rkt.pod import layout
from rkt.pod.pod import Pod

__all__ = ["STOP_WAIT", "after_run", "after_run_at", "after_stop"]

#: How long ``rkt stop`` waits for a pod with CNI networks to exit (seconds).
STOP_WAIT = 5.0


def _pid1_alive(pod_dir: Path) -> bool:
    """Whether the pod's PID 1 (``pid``) still runs: stage1's outer process can die (SIGKILL)
    while PID 1, which also holds the lock's file, keeps the apps going."""
    try:
        pid = int((pod_dir / layout.PID).read_bytes().strip())
        with open(f"/proc/{pid}/stat", "rb") as f:
            state = f.read().rpartition(b")")[2].split()[0]
    except (OSError, ValueError, IndexError):
        return False
    return state not in (b"Z", b"X")


def _registered(pod_dir: Path) -> bool:
    return os.path.lexists(pod_dir / layout.MDS_REGISTERED)


def _unregister(pod_dir: Path, uuid: str) -> list[str]:
    """The pod's end at the metadata service, if it was registered (rkt.metadata.client)."""
    if not _registered(pod_dir):
        return []
    from rkt.metadata.client import unregister

    return unregister(pod_dir, uuid)


def after_run(pod: Pod) -> list[str]:
    """Tear down the networks of a pod whose stage1 has exited, and unregister it; we hold its
    lock. The errors (a failed DEL keeps its cache entry for ``rkt stop`` or gc to retry)."""
    return after_run_at(pod.path, pod.uuid)


def after_run_at(pod_dir: Path, uuid: str) -> list[str]:
    """:func:`after_run` for the pod directory ``pod_dir`` (the pod's monitor, which holds the
    lock, runs it through rkt.stage0.teardown)."""
    from rkt.net.files import needs_teardown

    network = needs_teardown(pod_dir)
    if not (network or _registered(pod_dir)) or _pid1_alive(pod_dir):
        return []
    errors = _unregister(pod_dir, uuid)
    if not network:
        return errors
    from rkt.net.pod import teardown

    return errors + teardown(pod_dir, uuid)


def _current_path(fd: int) -> Path | None:
    """Where the directory open at ``fd`` is now (gc may have moved it to exited-garbage/)."""
    try:
        target = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:
        return None
    return None if target.endswith(" (deleted)") else Path(target)


def _until(ready: Callable[[], bool], deadline: float) -> bool:
    """Poll ``ready``, pausing a little longer each time, until it is true (True) or the
    monotonic ``deadline`` has passed (False)."""
    pause = 0.01
    while not ready():
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
    return True


def after_stop(pod: Pod, *, wait: float = STOP_WAIT) -> list[str]:
    """After stage1's ``stop``: wait (bounded) for the pod to exit, then tear down what is left.

    ``[]`` when there is nothing to do or the pod is still running after ``wait`` seconds
    (stage0 or gc will do it); else the teardown's errors.
    """
    from rkt.net.files import needs_teardown

    if not (needs_teardown(pod.path) or _registered(pod.path)):
        return []
    deadline = time.monotonic() + wait
    from rkt.linux.flocks import try_lock_fd

    if not _until(lambda: try_lock_fd(pod.fd), deadline):
        return []
    try:
        path = _current_path(pod.fd)
        # PID 1 lets go of the lock as it starts exiting, before it has waited for the rest of
        # its pid namespace to die: give it the time left to finish.
        if path is None or not _until(lambda: not _pid1_alive(path), deadline):
            return []
        errors = _unregister(path, pod.uuid)
        if not needs_teardown(path):
            return errors
        from rkt.net.pod import teardown

        return errors + teardown(path, pod.uuid)
    finally:
        with contextlib.suppress(OSError):
            fcntl.flock(pod.fd, fcntl.LOCK_UN)
