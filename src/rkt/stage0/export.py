"""Exporting an app of an exited pod as an image (``rkt export``): its image manifest and its
root as the app left it, gzip-compressed, as rkt's export.go did.

The app's root is what stage0 prepared: an overlayfs over the image's rendered tree (the app's
changes in its upper layer), or a copy (``--no-overlay``). It is archived through a layout in
the data dir's ``tmp/`` (the manifest, and ``rootfs`` bound to the app's root), so that the
archive is built by :func:`appc.aci.builder.build`: atomically, never through a symlink. The
overlay stays mounted from prepare until gc; when it is gone (a reboot), a fresh one is made
over the same layers. Volumes are not part of the root: stage1 mounted them in the pod's own
mount namespace. With ``--private-users`` the files the pod wrote are owned by its host ids,
which the archive records as the ids the pod saw (rkt's UnshiftRange).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.errors import ConfigError, PodError
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.pod.state import PodState

if TYPE_CHECKING:
    from collections.abc import Callable

    from rkt.store import Store

ACI_EXTENSION = ".aci"


def check_output(path: str) -> None:
    """rkt's rule: the output's extension is ``.aci``."""
    if not path.endswith(ACI_EXTENSION) or path.rsplit("/", 1)[-1] == ACI_EXTENSION:
        raise ConfigError(f"extension must be {ACI_EXTENSION} (given {path})")


def check_exported(pod: Pod) -> None:
    if pod.state not in (PodState.EXITED, PodState.EXITED_GARBAGE):
        raise PodError(
            "pod is not exited. Only exited pods can be exported", hint=f"it is {pod.state}"
        )


def export_app(store: Store, pod: Pod, app: str, output: str, *, overwrite: bool) -> str:
    """Write ``app`` of the exited ``pod`` to ``output`` (an ``.aci``); returns the image ID.

    The pod is read through its open directory, so a gc moving it meanwhile changes nothing.
    """
    from appc.aci.builder import build
    from appc.errors import AppcError
    from rkt.stage0 import user_range

    check_output(output)
    check_exported(pod)
    pod_dir = Path(f"/proc/self/fd/{pod.fd}")
    shift = user_range.read(pod_dir)
    tmp_root = store.datadir.tmp
    tmp_root.mkdir(mode=0o750, parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"rkt-export-{pod.uuid}-", dir=tmp_root))
    rootfs = work / "rootfs"
    mounted = False
    try:
        manifest = (pod_dir / layout.app_image_manifest(app)).read_bytes()
        (work / "manifest").write_bytes(manifest)
        rootfs.mkdir(mode=0o755)
        _mount_root(store, pod_dir, app, rootfs)
        mounted = True
        id_map = _unshift(shift.base, shift.count) if shift is not None else None
        return build(work, output, overwrite=overwrite, id_map=id_map)
    except AppcError as err:
        raise PodError(f"cannot export app {app} of pod {pod.uuid}: {err}") from err
    except OSError as err:
        raise PodError(f"cannot export app {app} of pod {pod.uuid}: {err.strerror or err}") from err
    finally:
        if mounted:
            from rkt.linux.mount import MNT_DETACH, umount2

            with contextlib.suppress(OSError):
                umount2(str(rootfs), MNT_DETACH)
        shutil.rmtree(work, ignore_errors=True)


def _mount_root(store: Store, pod_dir: Path, app: str, target: Path) -> None:
    """Bind the app's root at ``target``; a fresh overlay of the app's layers if the one
    prepare made is no longer mounted."""
    from rkt.linux.mount import MS_BIND, MS_NODEV, MS_RDONLY, MS_REMOUNT, mount
    from rkt.linux.mountinfo import mount_points

    root = pod_dir / layout.app_root(app)
    real_root = os.path.realpath(root)
    overlay = (pod_dir / layout.OVERLAY_PREPARED).exists()
    if not overlay or real_root in mount_points():
        if not root.is_dir():
            raise PodError(f"the root of app {app} is missing")
        mount(str(root), str(target), None, MS_BIND)
    else:
        tree_id = (pod_dir / layout.app_tree_id(app)).read_text(encoding="ascii").strip()
        lower = store.render(tree_id) if tree_id.startswith("sha512-") else None
        base = pod_dir / layout.overlay_dir(app)
        if lower is None or not (base / "upper").is_dir():
            raise PodError(f"the overlay layers of app {app} are missing")
        upper, work = os.path.realpath(base / "upper"), os.path.realpath(base / "work")
        data = f"lowerdir={lower},upperdir={upper},workdir={work}"
        mount("overlay", str(target), "overlay", MS_NODEV, data)
        return
    # Read-only: archiving must not change the app's root.
    mount(str(root), str(target), None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def _unshift(base: int, count: int) -> Callable[[int, int], tuple[int, int]]:
    def unshift(uid: int, gid: int) -> tuple[int, int]:
        return (
            uid - base if base <= uid < base + count else uid,
            gid - base if base <= gid < base + count else gid,
        )

    return unshift
