"""What ``rkt prepare`` and ``rkt run`` ask for, and the one call that prepares it.

The CLI turns argv into a :class:`PodRequest` (flags parsed, nothing looked up) and calls
:func:`prepare`, which checks what it can before any pod exists (volumes, mounts, ports, the
networks ``--net`` selects), resolves the images (fetching them with the pull policy, or
finding a pod manifest's in the store), and writes the pod (rkt.stage0.prepare or
rkt.stage0.pod_manifest). Running it is rkt.stage0.run's.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

import msgspec

from rkt.errors import ConfigError
from rkt.stage0.apps import AppArgs
from rkt.stage0.options import Options

if TYPE_CHECKING:
    from rkt.config import Config
    from rkt.pod.pod import Pod


class PodRequest(msgspec.Struct, frozen=True, kw_only=True):
    """A pod as the user asked for it; ``apps`` or ``pod_manifest``, not both."""

    #: the image arguments and the flags given after each
    apps: tuple[AppArgs, ...] = ()
    #: ``--pod-manifest``: the pod manifest's path (its images must be in the store, as rkt)
    pod_manifest: str = ""
    #: what stage1 gets (stage1/options.json), with ``--net`` in it
    options: Options
    #: ``--volume`` and ``--mount`` words, ``--port`` forwards
    volumes: tuple[str, ...] = ()
    mounts: tuple[str, ...] = ()
    ports: tuple[str, ...] = ()
    pull_policy: str = "new"
    #: not ``--no-overlay``; a kernel without overlayfs gets copies too (rkt did the same)
    use_overlay: bool = True
    inherit_env: bool = False
    private_users: bool = False
    #: ``rkt prepare``: the network comes with ``rkt run-prepared --net``
    network_at_run: bool = False


def prepare(
    config: Config,
    request: PodRequest,
    *,
    held: list[Pod] | None = None,
    stderr: TextIO | None = None,
) -> str:
    """Prepare the pod of ``request``; its UUID. ``held`` (``rkt run``): the pod stays locked
    and is appended there (rkt.stage0.prepare.create); ``stderr`` gets fetch progress and
    warnings."""
    from rkt.datadir import DataDir
    from rkt.stage0.options import select_networks
    from rkt.stage0.prepare import overlay_supported
    from rkt.store import Store

    stderr = stderr or sys.stderr
    overlay = request.use_overlay
    if overlay and not overlay_supported():
        stderr.write("disabling overlay support: the kernel has no overlay filesystem\n")
        overlay = False
    datadir = DataDir(config.data_dir)
    if request.pod_manifest:
        from rkt.stage0 import pod_manifest

        document = pod_manifest.load(request.pod_manifest)
        # Before any pod exists: a bad --net creates none.
        networks = select_networks(config.dirs, request.options.net)
        with Store(datadir) as store:
            pod = pod_manifest.resolve(store, document, request.pod_manifest)
            pod = pod_manifest.resolve_ports(pod, request.options.net)
            return pod_manifest.prepare(
                store,
                datadir.pods,
                pod,
                options=request.options,
                use_overlay=overlay,
                networks=networks,
                private_users=request.private_users,
                held=held,
            )
    from appc.errors import ValidationError
    from appc.schema.volume import Volume
    from rkt.fetch import Fetcher
    from rkt.stage0.apps import parse_mount
    from rkt.stage0.manifest import ResolvedApp
    from rkt.stage0.options import parse_ports
    from rkt.stage0.prepare import PrepareConfig
    from rkt.stage0.prepare import prepare as prepare_pod

    try:
        volumes = tuple(Volume.from_string(v) for v in request.volumes)
    except ValidationError as err:
        raise ConfigError(f"invalid --volume: {err}") from err
    pod_mounts = tuple(parse_mount(m) for m in request.mounts)
    ports = parse_ports(request.ports)
    networks = select_networks(config.dirs, request.options.net)
    with Store(datadir) as store:
        fetcher = Fetcher(config, store, stderr=stderr)
        resolved: list[ResolvedApp] = []
        for app in request.apps:
            signature = Path(app.signature) if app.signature else None
            image_id = fetcher.fetch(
                app.image, pull_policy=request.pull_policy, signature=signature
            )
            _, manifest = store.manifest(image_id)
            resolved.append(ResolvedApp(args=app, image_id=image_id, image=manifest))
        stage0 = PrepareConfig(
            apps=tuple(resolved),
            volumes=volumes,
            pod_mounts=pod_mounts,
            options=request.options,
            use_overlay=overlay,
            inherit_env=request.inherit_env,
            networks=networks,
            ports=ports,
            private_users=request.private_users,
            network_at_run=request.network_at_run,
        )
        return prepare_pod(store, datadir.pods, stage0, held=held)
