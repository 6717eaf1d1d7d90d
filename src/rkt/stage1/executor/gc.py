"""``python -m rkt.stage1.executor.gc --pod-dir=DIR``: unmount what a run left under the pod dir.

Works after a crash too: it reads /proc/self/mountinfo rather than any record of ours, detaches
(MNT_DETACH) every mount at or under the pod directory, deepest first, and never fails because
a mount is busy or already gone. The pod's own namespaces die with its processes; what remains
here is what stage0 mounted in the host's namespace (the app roots).
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import TYPE_CHECKING

from rkt.linux import cgroup
from rkt.linux.mount import MNT_DETACH
from rkt.linux.mountinfo import MOUNTINFO, mount_points
from rkt.pod import layout

if TYPE_CHECKING:
    from rkt.linux.kernel import Kernel

#: A mount detached in one pass may uncover others (stacked mounts); a few passes end it.
MAX_PASSES = 8


def under(path: str, top: str) -> bool:
    """``path`` is ``top`` or inside it, compared by whole components (/x/a2 is not in /x/a)."""
    return path == top or path.startswith(top.rstrip("/") + "/")


def mounts_under(top: str, mountinfo: str = MOUNTINFO) -> list[str]:
    """Mounts at or under ``top``, deepest first (and the later of stacked mounts first)."""
    found = [(i, p) for i, p in enumerate(mount_points(mountinfo)) if under(p, top)]
    found.sort(key=lambda item: (item[1].count("/"), item[0]), reverse=True)
    return [p for _, p in found]


def remove_cgroups(pod_dir: str) -> list[str]:
    """Remove the pod's recorded cgroups (the pod's and its leaves); the errors met. A systemd
    scope made for the pod is normally gone with its last process; one still there (a process
    left behind) is stopped first, which kills what is left."""
    pod = cgroup.load(os.path.join(pod_dir, layout.CGROUP_RECORD))
    if pod is None:
        return []
    errors = []
    if pod.unit and any(os.path.isdir(root) for root in pod.roots()):
        from rkt.linux import systemd

        try:
            with systemd.manager() as bus:
                systemd.stop_unit(bus, pod.unit)
        except OSError as err:
            errors.append(f"{pod.unit}: {err}")
    return errors + cgroup.remove(pod)


def teardown_network(pod_dir: str) -> list[str]:
    """CNI DEL of every network the pod joined and removal of its netns file (rkt.net.pod),
    before the mounts go: a plugin's DEL needs the namespace to clean up inside it; then the
    masquerading of those of its networks no pod is on any more."""
    from pathlib import Path

    from rkt.net.pod import release_idle, teardown

    errors = []
    try:
        errors += teardown(Path(pod_dir), os.path.basename(pod_dir.rstrip("/")))
    except Exception as err:  # gc must go on: the mounts and cgroups are still to be removed
        errors.append(f"network teardown: {err}")
    try:
        # The masquerading of a network outlives its pods until gc (rkt.net.masquerade).
        errors += release_idle(Path(pod_dir))
    except Exception as err:
        errors.append(f"network masquerading: {err}")
    return errors


def gc(pod_dir: str, kernel: Kernel | None = None) -> list[str]:
    """DEL the pod's networks, detach every mount under ``pod_dir`` and remove the pod's
    cgroups; the errors met (none fatal), for --debug. ``kernel``: what unmounts (a
    RealKernel by default)."""
    if kernel is None:
        from rkt.linux.kernel import RealKernel

        kernel = RealKernel()
    top = os.path.realpath(pod_dir)
    errors: list[str] = teardown_network(top)
    for _ in range(MAX_PASSES):
        targets = mounts_under(top)
        if not targets:
            break
        for target in targets:
            try:
                kernel.umount2(target, MNT_DETACH)
            except OSError as err:
                # EINVAL: already detached with its parent; busy mounts detach lazily anyway.
                errors.append(str(err))
    errors.extend(remove_cgroups(top))
    return errors


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="rkt.stage1.executor.gc", description="Unmount a pod's mounts."
    )
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    for error in gc(args.pod_dir):
        if args.debug:
            print(f"stage1 gc: {error}", file=sys.stderr)
    left = mounts_under(os.path.realpath(args.pod_dir))
    if left:
        print(f"stage1 gc: still mounted: {', '.join(left)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
