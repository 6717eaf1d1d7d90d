"""``rkt gc`` and ``rkt rm``: the pod passes of :mod:`rkt.pod.gc` with stage1's part.

Deleting a pod that ran needs its flavor's gc first (CNI DEL of its networks, its netns file,
its mounts and cgroups), and gc's last pass removes what pods that are gone left on the host;
both are stage1's, reached through the interface (rkt.stage1.interface).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.pod import gc as passes
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.stage1 import interface

if TYPE_CHECKING:
    from rkt.config import ConfigDirs
    from rkt.pod.gc import Report


def teardown(pod: Pod) -> None:
    """stage1's gc for the pod, after unregistering it from the metadata service (rkt's GC
    did so first; a service that is gone has forgotten it)."""
    if os.path.lexists(pod.path / layout.MDS_REGISTERED):
        from rkt.metadata.client import unregister

        unregister(pod.path, pod.uuid)
    interface.gc(pod.path)


def host_sweep(dirs: ConfigDirs | None) -> passes.HostSweep:
    """The last pass: cgroups, mounts, leases and NAT chains named for pods that exist nowhere
    any more, for networks of ``dirs``'s configuration."""

    def sweep(pods: Path, report: Report) -> None:
        done, errors = interface.sweep(pods, dirs)
        for item in done:
            report(f"removed {item}, left by a pod that is gone", False)
        for error in errors:
            report(f"cleaning up after pods that are gone: {error}", False)

    return sweep


def collect(
    pods: Path,
    report: Report,
    *,
    grace_ns: int,
    expire_prepared_ns: int,
    mark_only: bool = False,
    dirs: ConfigDirs | None = None,
) -> None:
    """``rkt gc`` (rkt.pod.gc.collect) with stage1's teardown and host sweep."""
    passes.collect(
        pods,
        report,
        grace_ns=grace_ns,
        expire_prepared_ns=expire_prepared_ns,
        mark_only=mark_only,
        teardown=teardown,
        host_sweep=host_sweep(dirs),
    )


def remove(pod: Pod, report: Report) -> bool:
    """``rkt rm`` of one pod (rkt.pod.gc.remove) with stage1's teardown."""
    return passes.remove(pod, report, teardown)
