"""Pod garbage collection and removal: mark by rename, sweep by delete (pod-lifecycle.md).

Mark: exited pods (run/, unlocked) move to exited-garbage/; aborted prepares (prepare/,
unlocked) and prepared pods older than ``--expire-prepared`` move to garbage/. Sweep: pods
in exited-garbage/ longer than the grace period, and every pod in garbage/, are locked
exclusively (→ "deleting") and removed. Every step takes a non-blocking lock or a rename,
so gc never waits for, nor disturbs, a running pod.

Deleting an *exited* pod needs its executor's teardown first: the ``teardown`` argument,
stage1's gc, which rkt.stage0.gc passes (CNI DEL of the pod's networks and removal of its
netns file, then lazily unmount the app roots). Whatever it leaves mounted makes the delete
refuse: removing a tree with mounts inside would follow them into host volumes.

Messages go to ``report(text, to_stdout)`` as rkt prints them, so the CLI stays the only
printer.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

from rkt.errors import PodError
from rkt.linux.mountinfo import MOUNTINFO, mount_points
from rkt.pod.pod import Pod, walk_pods
from rkt.pod.state import Phase, PodState

Report = Callable[[str, bool], None]
Teardown = Callable[[Pod], None]
Clock = Callable[[], int]
#: An embryo's creator locks it right after making it: unlocked for longer, it is abandoned.
EMBRYO_GRACE_NS = 1_000_000_000
#: gc's last pass: what pods that are gone left on the host (pods dir, report)
HostSweep = Callable[[Path, Report], None]


def format_duration(ns: int) -> str:
    """Go's ``time.Duration.String`` for whole seconds and up: ``30m0s``, ``24h0m0s``."""
    seconds, rest = divmod(ns, 1_000_000_000)
    if seconds == 0 and rest == 0:
        return "0s"
    hours, seconds = divmod(seconds, 3600)
    minutes, seconds = divmod(seconds, 60)
    frac = f".{rest:09d}".rstrip("0") if rest else ""
    text = f"{seconds}{frac}s"
    if hours or minutes:
        text = f"{minutes}m{text}"
    if hours:
        text = f"{hours}h{text}"
    return text


def mark(
    pods: Path, report: Report, *, expire_prepared_ns: int | None, clock: Clock = time.time_ns
) -> None:
    """gc's first pass. ``expire_prepared_ns`` is ``None`` under ``--mark-only``, which (as
    in rkt) leaves prepared pods alone."""
    for pod in walk_pods(pods, {Phase.RUN}):
        if pod.state is PodState.EXITED:
            report(f'moving pod "{pod.uuid}" to garbage', False)
            _rename(pod, pod.to_exited_garbage, report)
    for pod in walk_pods(pods, {Phase.EMBRYO}):
        # Its creator locks it right after mkdir: one unlocked and a second old is abandoned.
        if os.fstat(pod.fd).st_mtime_ns + EMBRYO_GRACE_NS < clock() and pod.abandon_embryo():
            report(f'moving abandoned embryo "{pod.uuid}" to garbage', False)
    for pod in walk_pods(pods, {Phase.PREPARE}):
        if pod.state is PodState.ABORTED_PREPARE:
            report(f'moving failed prepare "{pod.uuid}" to garbage', False)
            _rename(pod, pod.to_garbage, report)
    if expire_prepared_ns is None:
        return
    for pod in walk_pods(pods, {Phase.PREPARED}):
        # The prepared/ entry's times tell when prepare finished (rkt reads the ctime).
        if os.fstat(pod.fd).st_mtime_ns + expire_prepared_ns < clock():
            report(f'moving expired prepared pod "{pod.uuid}" to garbage', False)
            _rename(pod, pod.to_garbage, report)
        elif (damage := _unrunnable(pod)) is not None:
            report(f'moving damaged prepared pod "{pod.uuid}" to garbage: {damage}', False)
            _rename(pod, pod.to_garbage, report)


def _unrunnable(pod: Pod) -> str | None:
    """Why a prepared pod can never run (its manifest is missing or garbled), or None. A
    prepared pod is complete (prepare renames it into prepared/ last), so this is damage."""
    from rkt.pod import info

    try:
        info.apps(pod, info.manifest_document(pod))
    except PodError as err:
        return err.message
    except OSError as err:
        return f"cannot read its manifest: {err.strerror or err}"
    return None


def _rename(pod: Pod, move: Callable[[], None], report: Report) -> None:
    try:
        move()
    except PodError as err:  # a concurrent gc or rm got there first
        report(f"rename error: {err}", False)


def sweep(
    pods: Path,
    report: Report,
    *,
    grace_ns: int,
    clock: Clock = time.time_ns,
    teardown: Teardown,
) -> None:
    """gc's second pass: delete exited garbage past the grace period, and all garbage."""
    for pod in walk_pods(pods, {Phase.EXITED_GARBAGE}):
        if os.fstat(pod.fd).st_mtime_ns + grace_ns < clock():
            if pod.lock_for_delete():
                report(f'Garbage collecting pod "{pod.uuid}"', True)
                delete(pod, report, teardown)
        else:
            report(
                f'pod "{pod.uuid}" not removed: still within grace period '
                f"({format_duration(grace_ns)})",
                False,
            )
    for pod in walk_pods(pods, {Phase.GARBAGE}):
        if pod.lock_for_delete():
            report(f'Garbage collecting pod "{pod.uuid}"', True)
            delete(pod, report, teardown)


def collect(
    pods: Path,
    report: Report,
    *,
    grace_ns: int,
    expire_prepared_ns: int,
    mark_only: bool = False,
    clock: Clock = time.time_ns,
    teardown: Teardown,
    host_sweep: HostSweep | None = None,
) -> None:
    """``rkt gc``: mark, then (unless ``mark_only``) expire prepared pods and sweep, then
    ``host_sweep`` what pods that are gone left on the host."""
    mark(pods, report, expire_prepared_ns=None if mark_only else expire_prepared_ns, clock=clock)
    if not mark_only:
        sweep(pods, report, grace_ns=grace_ns, clock=clock, teardown=teardown)
        if host_sweep is not None:
            host_sweep(pods, report)


def remove(pod: Pod, report: Report, teardown: Teardown) -> bool:
    """``rkt rm`` of one pod: move it to garbage whatever its phase, then delete it now.
    Running, preparing and deleting pods are refused with rkt's messages."""
    state = pod.state
    refusal = {
        PodState.RUNNING: "is currently running",
        PodState.EMBRYO: "is currently being prepared",
        PodState.PREPARING: "is currently being prepared",
        PodState.DELETING: "is currently being deleted",
        PodState.EXITED_DELETING: "is currently being deleted",
    }.get(state)
    if refusal:
        report(f'pod "{pod.uuid}" {refusal}', False)
        return False
    try:
        if state is PodState.ABORTED_PREPARE:
            report(f'moving failed prepare "{pod.uuid}" to garbage', False)
            pod.to_garbage()
        elif state is PodState.PREPARED:
            report(f'moving expired prepared pod "{pod.uuid}" to garbage', False)
            pod.to_garbage()
        elif state is PodState.EXITED:
            pod.to_exited_garbage()
    except PodError as err:
        report(f"rename error: {err}", False)
        return False
    if not pod.lock_for_delete():
        report(f'pod "{pod.uuid}" is currently being deleted', False)
        return False
    return delete(pod, report, teardown)


def delete(pod: Pod, report: Report, teardown: Teardown) -> bool:
    """Remove a pod we hold in a deleting state; false (and a message) if it failed."""
    if pod.state not in (PodState.DELETING, PodState.EXITED_DELETING) or not pod.held:
        report(f'non-garbage pod "{pod.uuid}" (status "{pod.state}"), skipped', False)
        return False
    # A prepared pod has its app roots mounted already (prepare mounts them): one that goes
    # to the garbage without running (expired, damaged, rm) needs the executor's gc too.
    if pod.state is PodState.EXITED_DELETING or mounts_under(pod.path):
        try:
            teardown(pod)
        except PodError as err:
            report(f'problem performing stage1 GC on "{pod.uuid}": {err}', False)
    path = pod.path
    left = mounts_under(path)
    if left:
        report(f'unable to remove pod "{pod.uuid}": still mounted: {", ".join(left)}', False)
        return False
    try:
        shutil.rmtree(path)
    except OSError as err:
        report(f'unable to remove pod "{pod.uuid}": {err}', False)
        return False
    return True


def mounts_under(path: Path, mountinfo: str = MOUNTINFO) -> list[str]:
    """Mount points at or below ``path`` (mountinfo's field 5, octal escapes decoded)."""
    try:
        points = mount_points(mountinfo)
    except FileNotFoundError:
        return []
    root = os.path.realpath(path)
    return [point for point in points if point == root or point.startswith(root + "/")]
