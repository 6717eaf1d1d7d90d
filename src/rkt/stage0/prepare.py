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
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from appc.schema.app import ExposedPort
from appc.schema.pod import Mount
from appc.schema.volume import Volume
from rkt.errors import ConfigError, PodError
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.stage0.manifest import ResolvedApp, app_name, pod_manifest
from rkt.stage0.options import OPTIONS_FILE, StageOptions

if TYPE_CHECKING:
    from rkt.net.pod import Selected
    from rkt.store import Store


@dataclass(frozen=True)
class PrepareConfig:
    apps: Sequence[ResolvedApp]
    volumes: Sequence[Volume] = ()
    pod_mounts: Sequence[Mount] = ()
    options: StageOptions = field(default_factory=StageOptions)
    use_overlay: bool = True
    inherit_env: bool = False
    #: the CNI networks ``--net`` selected (rkt.net.pod.select), ADDed when the pod runs
    networks: Sequence[Selected] = ()
    #: ``--port`` forwards, unresolved (rkt.stage0.options.parse_ports); resolved by prepare
    ports: Sequence[ExposedPort] = ()


def app_root(app: str) -> str:
    """The app's root, relative to the pod directory."""
    return f"{layout.STAGE1_ROOTFS}/opt/stage2/{app}/rootfs"


def overlay_dir(app: str) -> str:
    """Where the app's overlay upper and work dirs live, relative to the pod directory."""
    return f"overlay/{app}"


def overlay_supported() -> bool:
    try:
        with open("/proc/filesystems", encoding="ascii") as f:
            return any(line.split()[-1:] == ["overlay"] for line in f)
    except OSError:
        return False


def _write(path: Path, data: bytes, mode: int = 0o640) -> None:
    """Write through a temporary name and fsync, so a crash never leaves half a file."""
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _mount_overlay(lower: Path, pod_dir: Path, app: str) -> Path:
    from rkt.linux.mount import mount

    base = pod_dir / overlay_dir(app)
    upper, work = base / "upper", base / "work"
    target = pod_dir / app_root(app)
    for directory in (upper, work, target):
        directory.mkdir(mode=0o755, parents=True, exist_ok=True)
    paths = (str(lower), str(upper), str(work))
    if any(c in p for p in paths for c in ",:\\"):
        # overlayfs splits its options on "," and lowerdir on ":": such paths cannot be named.
        raise PodError(f"cannot use overlay with paths containing ',', ':' or '\\': {paths}")
    data = f"lowerdir={lower},upperdir={upper},workdir={work}"
    try:
        mount("overlay", str(target), "overlay", 0, data)
    except OSError as err:
        raise PodError(
            f"cannot mount the overlay of app {app}: {err.strerror}", hint="try --no-overlay"
        ) from err
    return target


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
    ports = resolve_ports(config.ports, image_ports, config.options.net)
    if ports and not config.networks:
        raise ConfigError(f"--port: --net={config.options.net} selects no network to forward to")
    return ports


def prepare(store: Store, pods: Path, config: PrepareConfig) -> str:
    """Create, fill and publish the pod; returns its UUID (the pod is in ``prepared/``)."""
    inherit = dict(os.environ) if config.inherit_env else None
    manifest = pod_manifest(
        config.apps, volumes=config.volumes, pod_mounts=config.pod_mounts, inherit_env=inherit
    )
    names = [app_name(a) for a in config.apps]
    ports = _resolve_ports(config)
    if ports:
        from msgspec.structs import replace as replace_struct

        manifest = replace_struct(manifest, ports=ports)
    mounted: list[Path] = []
    pod = Pod.new(pods)
    try:
        pod_dir = pod.path  # stable while we hold the lock: no one else moves a locked pod
        _write(pod_dir / layout.MANIFEST, manifest.to_json())
        _write(pod_dir / layout.CREATED, b"")
        for name, resolved in zip(names, config.apps, strict=True):
            raw, _ = store.manifest(resolved.image_id)
            _write(pod_dir / layout.app_image_manifest(name), raw)
            # The tree store keys trees by image ID: the rendered tree is the image's own.
            _write(pod_dir / layout.app_tree_id(name), resolved.image_id.encode())
            tree = store.render(resolved.image_id)
            if config.use_overlay:
                mounted.append(_mount_overlay(tree, pod_dir, name))
            else:
                store.render_to(
                    resolved.image_id, pod_dir / app_root(name), rootfs_only=True, overwrite=False
                )
        if config.use_overlay:
            _write(pod_dir / layout.OVERLAY_PREPARED, b"")
        environments = {
            name: tuple(resolved.args.environment.items())
            for name, resolved in zip(names, config.apps, strict=True)
            if resolved.args.environment
        }
        options = replace(config.options, app_environment=environments)
        _write(pod_dir / OPTIONS_FILE, options.to_json(pod.uuid))
        if config.networks:
            from rkt.net.pod import save_selection
            from rkt.stage0.options import port_mappings

            save_selection(pod_dir, config.networks, port_mappings(ports))
        pod.to_prepared()
        return pod.uuid
    except BaseException:
        detach(mounted)
        raise
    finally:
        pod.close()
