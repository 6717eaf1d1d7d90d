"""Preparing a pod: the directory stage1 runs (docs/stage1-interface.md, "The pod directory").

The pod is created locked in ``prepare/``; everything is written while we hold the lock, and
only the final rename to ``prepared/`` publishes it. If anything fails, the mounts made so far
are detached and the lock is dropped: an unlocked pod in ``prepare/`` is an aborted prepare,
which ``rkt gc`` removes (as in rkt).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from msgspec.structs import replace

from appc.schema.app import ExposedPort
from appc.schema.pod import Mount
from appc.schema.volume import Volume
from rkt.atomicfile import write_atomically
from rkt.errors import ConfigError, PodError
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.stage0.manifest import ResolvedApp, app_name, pod_manifest
from rkt.stage0.options import Options, RunOptions, stage1_options, with_hostname

if TYPE_CHECKING:
    from appc.schema.pod import PodManifest
    from rkt.net.selection import Selected
    from rkt.stage0.user_range import UserRange
    from rkt.store import Store


class PrepareConfig(msgspec.Struct, frozen=True):
    apps: Sequence[ResolvedApp]
    volumes: Sequence[Volume] = ()
    pod_mounts: Sequence[Mount] = ()
    options: Options = msgspec.field(default_factory=lambda: stage1_options(RunOptions(), "none"))
    use_overlay: bool = True
    inherit_env: bool = False
    #: the CNI networks ``--net`` selected (rkt.net.pod.select), ADDed when the pod runs
    networks: Sequence[Selected] = ()
    #: ``--port`` forwards, unresolved (rkt.stage0.options.parse_ports); resolved by prepare
    ports: Sequence[ExposedPort] = ()
    #: ``--private-users``: the pod's ids shifted into a host range of its own (user_range)
    private_users: bool = False
    #: ``rkt prepare``: the network comes with ``rkt run-prepared --net``, so ``--port``
    #: forwards are only checked against the images' ports here
    network_at_run: bool = False


def overlay_supported() -> bool:
    """Whether the kernel has overlayfs: listed in /proc/filesystems, or after loading its
    module (a stock Debian kernel has it as a module that only a first mount, or modprobe,
    loads; without this the first pods on such a host would get copies)."""
    if _listed("overlay"):
        return True
    import shutil
    import subprocess

    modprobe = shutil.which("modprobe", path="/usr/sbin:/sbin:/usr/bin:/bin")
    if modprobe is None:
        return False
    subprocess.run([modprobe, "-q", "overlay"], check=False, capture_output=True, timeout=30)
    return _listed("overlay")


def _listed(filesystem: str) -> bool:
    try:
        with open("/proc/filesystems", encoding="ascii") as f:
            return any(line.split()[-1:] == [filesystem] for line in f)
    except OSError:
        return False


def write_file(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write through a temporary name and fsync (rkt.atomicfile), so a crash never leaves half
    a file; its directory is made first."""
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomically(path, data, mode)


def _mount_overlay(
    lower: Path,
    pod_dir: Path,
    app: str,
    shift: Shift | None = None,
    mounted: list[Path] | None = None,
) -> Path:
    """The app's root: overlayfs over the rendered tree; returns it. A mount made on the way
    (the idmapped lower layer) is added to ``mounted``, for undoing a failed prepare.

    With ``shift`` (``--private-users``) the lower layer is an idmapped bind of the tree, so
    the pod's root sees the image's files as its own while the tree keeps its owners for other
    pods; the upper layer belongs to the pod's root, and what the pod writes there is owned by
    the pod's host ids.
    """
    from rkt.linux.mount import MS_NODEV, idmapped_bind, mount

    base = pod_dir / layout.overlay_dir(app)
    upper, work = base / "upper", base / "work"
    target = pod_dir / layout.app_root(app)
    for directory in (upper, work, target):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    if shift is not None:
        shifted = base / "lower"
        shifted.mkdir(mode=0o755, exist_ok=True)
        try:
            idmapped_bind(str(lower), str(shifted), shift.userns_fd)
        except OSError as err:
            raise PodError(
                f"cannot shift the ids of app {app}'s image for --private-users: {err}",
                hint="idmapped mounts need Linux 5.12 and a filesystem that supports them;"
                " try --no-overlay",
            ) from err
        if mounted is not None:
            mounted.append(shifted)
        lower = shifted
        os.chown(upper, shift.range.base, shift.range.base)
    paths = (str(lower), str(upper), str(work))
    if any(c in p for p in paths for c in ",:\\"):
        # overlayfs splits its options on "," and lowerdir on ":": such paths cannot be named.
        raise PodError(f"cannot use overlay with paths containing ',', ':' or '\\': {paths}")
    data = f"lowerdir={lower},upperdir={upper},workdir={work}"
    try:
        # nodev: no device node in the pod's root opens (the image has none: they are refused
        # at import; the app may make some with CAP_MKNOD).
        mount("overlay", str(target), "overlay", MS_NODEV, data)
    except OSError as err:
        raise PodError(
            f"cannot mount the overlay of app {app}: {err.strerror}", hint="try --no-overlay"
        ) from err
    return target


class Shift(msgspec.Struct, frozen=True):
    """A pod's ``--private-users`` range and a user namespace that maps it (for idmapping)."""

    range: UserRange
    userns_fd: int


def _shift(pods: Path, pod_dir: Path, use_overlay: bool) -> Shift:
    from rkt.linux.namespace import IdMap, user_namespace
    from rkt.stage0.user_range import allocate

    allocated = allocate(pods, pod_dir)
    if not use_overlay:
        return Shift(allocated, -1)
    id_map = IdMap(allocated.base, allocated.count)
    try:
        return Shift(allocated, user_namespace(id_map, id_map))
    except OSError as err:
        raise PodError(f"--private-users: cannot create a user namespace: {err}") from err


def detach(targets: Sequence[Path]) -> None:
    """Lazily unmount, deepest first; a mount already gone is no error."""
    from rkt.linux.mount import MNT_DETACH, umount2

    for target in sorted(targets, key=lambda p: len(p.parts), reverse=True):
        with contextlib.suppress(OSError):
            umount2(str(target), MNT_DETACH)


def _resolve_ports(config: PrepareConfig) -> tuple[ExposedPort, ...]:
    """The ``--port`` forwards with their image ports, before any pod exists (ConfigError)."""
    from rkt.stage0.options import resolve_ports

    image_ports = [
        port
        for resolved in config.apps
        if resolved.image.app is not None
        for port in resolved.image.app.ports
    ]
    if config.network_at_run:
        # Any network but host and none takes forwards; run-prepared checks the one it gets.
        return resolve_ports(config.ports, image_ports, "default")
    ports = resolve_ports(config.ports, image_ports, config.options.net)
    if ports and not config.networks:
        raise ConfigError(f"--port: --net={config.options.net} selects no network to forward to")
    return ports


def prepare(
    store: Store, pods: Path, config: PrepareConfig, *, held: list[Pod] | None = None
) -> str:
    """Create, fill and publish the pod; returns its UUID (the pod is in ``prepared/``, or
    held for ``rkt run``: see :func:`create`)."""
    inherit = dict(os.environ) if config.inherit_env else None
    manifest = pod_manifest(
        config.apps, volumes=config.volumes, pod_mounts=config.pod_mounts, inherit_env=inherit
    )
    names = [app_name(a) for a in config.apps]
    ports = _resolve_ports(config)
    if ports:
        from msgspec.structs import replace as replace_struct

        manifest = replace_struct(manifest, ports=ports)
    environments = {
        name: tuple(resolved.args.environment.items())
        for name, resolved in zip(names, config.apps, strict=True)
        if resolved.args.environment
    }
    content = PodContent(
        manifest=manifest,
        images=tuple(zip(names, (a.image_id for a in config.apps), strict=True)),
        options=replace(config.options, app_environment=environments),
        use_overlay=config.use_overlay,
        networks=config.networks,
        private_users=config.private_users,
    )
    return create(store, pods, content, held=held)


class PodContent(msgspec.Struct, frozen=True):
    """What a pod directory is filled from, however the pod manifest came to be (made from
    image arguments here, or a user's ``--pod-manifest``: rkt.stage0.pod_manifest)."""

    manifest: PodManifest
    #: (app name, image ID) of each app, the images in the store and rendered
    images: Sequence[tuple[str, str]]
    options: Options
    use_overlay: bool = True
    networks: Sequence[Selected] = ()
    private_users: bool = False


def create(store: Store, pods: Path, content: PodContent, *, held: list[Pod] | None = None) -> str:
    """Create, fill and publish a pod; returns its UUID (the pod is in ``prepared/``). Until
    the rename to ``prepared/`` it is a locked ``prepare/`` pod; on failure its mounts are
    detached and ``rkt gc`` removes it.

    With ``held`` (``rkt run``) the pod is not published: it stays locked in ``prepare/`` and
    is appended to ``held`` for :func:`rkt.stage0.run.run_prepared`, which takes it from
    preparing to running without ever unlocking it, as rkt did; a ``rkt run`` killed in
    between leaves an aborted prepare for gc, never a prepared pod that waits for 24 h."""
    mounted: list[Path] = []
    pod = Pod.new(pods)
    shift: Shift | None = None
    try:
        pod_dir = pod.path  # stable while we hold the lock: no one else moves a locked pod
        if content.private_users:
            shift = _shift(pods, pod_dir, content.use_overlay)
        write_file(pod_dir / layout.MANIFEST, content.manifest.to_json())
        write_file(pod_dir / layout.CREATED, b"")
        for name, image_id in content.images:
            raw, _ = store.manifest(image_id)
            write_file(pod_dir / layout.app_image_manifest(name), raw)
            # The tree store keys trees by image ID: the rendered tree is the image's own.
            write_file(pod_dir / layout.app_tree_id(name), image_id.encode())
            tree = store.render(image_id)
            if content.use_overlay:
                mounted.append(_mount_overlay(tree, pod_dir, name, shift, mounted))
            else:
                store.render_to(
                    image_id, pod_dir / layout.app_root(name), rootfs_only=True, overwrite=False
                )
                if shift is not None:
                    from rkt.stage0.user_range import shift_tree

                    shift_tree(pod_dir / layout.app_root(name), shift.range)
        if content.use_overlay:
            write_file(pod_dir / layout.OVERLAY_PREPARED, b"")
        write_file(pod_dir / layout.OPTIONS, with_hostname(content.options, pod.uuid).to_json())
        if content.networks:
            from rkt.net.selection import save_selection
            from rkt.stage0.options import port_mappings

            save_selection(pod_dir, content.networks, port_mappings(content.manifest.ports))
        if held is None:
            pod.to_prepared()
        else:
            held.append(pod)
        return pod.uuid
    except BaseException:
        detach(mounted)
        raise
    finally:
        if shift is not None and shift.userns_fd >= 0:
            os.close(shift.userns_fd)
        if held is None or pod not in held:
            pod.close()
