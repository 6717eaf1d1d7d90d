"""A pod manifest written by the user: ``rkt prepare/run --pod-manifest=FILE``.

rkt 1.30 (stage0's validatePodManifest) took such a file as the whole description of the pod:
no image arguments, no per-app flags, and the images named by ID must already be in the store
(nothing is fetched). The apps run exactly as the manifest says; an app without an ``app``
section runs its image's app (pods.md "app"), which stage1 already does for any pod.

Three steps, kept apart so that every check runs before a pod directory exists:

- :func:`load` reads the file and validates it: the appc schema (:class:`PodManifest`: acKind,
  acVersion, unique app and volume names, image IDs, ...), then what the schema cannot see
  across fields (every mount names a volume of the pod, at least one app).
- :func:`resolve` looks each app's image up in the store by ID (a unique prefix is enough, as
  rkt's store resolved keys) and completes the ID, so that the pod names its images exactly.
- :func:`prepare` fills the pod directory as :mod:`rkt.stage0.prepare` does for a generated
  manifest and publishes it in ``prepared/``; a failure leaves no prepared pod.

Where we differ from rkt, on purpose: rkt wrote the file's bytes unchanged; we write the
validated manifest re-encoded (rkt's own encoding, :mod:`appc.schema.document`) with the full
image IDs and the resolved port forwards, so that ``rkt list``, ``image gc`` and stage1 never
meet a short ID. An ``image.name`` that contradicts the stored image's name is refused (rkt
ignored it), since it is almost surely a manifest written for another image.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import msgspec
from msgspec.structs import replace

from appc.errors import ValidationError
from appc.schema.document import MAX_MANIFEST_SIZE
from appc.schema.image import ImageManifest
from appc.schema.pod import PodManifest, RuntimeApp
from rkt.errors import ConfigError, ImageNotFound

if TYPE_CHECKING:
    from appc.schema.app import App, Port
    from rkt.net.selection import Selected
    from rkt.pod.pod import Pod
    from rkt.stage0.options import Options
    from rkt.store import Store


class ManifestImage(msgspec.Struct, frozen=True):
    """One app's image, found in the store: its full ID and its manifest (raw and parsed)."""

    app: str
    image_id: str
    raw: bytes
    image: ImageManifest


class ManifestPod(msgspec.Struct, frozen=True):
    """A user's pod manifest with every image resolved; ``source`` is the file, for messages."""

    source: str
    manifest: PodManifest
    images: tuple[ManifestImage, ...]


def _invalid(source: str, where: str, message: str, hint: str = "") -> ConfigError:
    located = f"{where}: {message}" if where else message
    return ConfigError(f"invalid pod manifest {source}: {located}", hint=hint)


def read(path: str) -> bytes:
    """The file's bytes, refusing one larger than any manifest (docs/security.md: limits)."""
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_MANIFEST_SIZE + 1)
    except OSError as err:
        raise ConfigError(f"cannot read pod manifest {path}: {err.strerror}") from err
    if len(data) > MAX_MANIFEST_SIZE:
        raise _invalid(path, "", f"larger than {MAX_MANIFEST_SIZE} bytes")
    return data


def parse(data: bytes, source: str) -> PodManifest:
    """Validate the document (schema, then cross-references); ConfigError names the field."""
    try:
        manifest = PodManifest.from_json(data)
    except ValidationError as err:
        raise _invalid(source, err.path, err.message) from err
    if not manifest.apps:
        # rkt only noticed at run time ("pod must contain at least one application").
        raise _invalid(source, "apps", "expected at least one app")
    volumes = [v.name for v in manifest.volumes]
    for index, app in enumerate(manifest.apps):
        for number, mount in enumerate(app.mounts):
            # pods.md: a mount with an appVolume brings its own volume.
            if mount.app_volume is None and mount.volume not in volumes:
                defined = ", ".join(volumes) or "none"
                raise _invalid(
                    source,
                    f"apps[{index}].mounts[{number}].volume",
                    f'app "{app.name}" mounts volume "{mount.volume}", but "volumes" does not '
                    f"define it (defined: {defined})",
                )
    return manifest


def load(path: str) -> PodManifest:
    return parse(read(path), path)


def _effective_app(runtime_app: RuntimeApp, image: ImageManifest) -> App | None:
    return runtime_app.app or image.app


def resolve(store: Store, manifest: PodManifest, source: str) -> ManifestPod:
    """Find every app's image in the store by ID; never fetches (as rkt)."""
    apps: list[RuntimeApp] = []
    images: list[ManifestImage] = []
    for index, runtime_app in enumerate(manifest.apps):
        where = f"apps[{index}].image"
        given = runtime_app.image.id
        try:
            image_id = store.get(given).id
        except ImageNotFound as err:
            raise _invalid(
                source,
                f"{where}.id",
                f'app "{runtime_app.name}": {err.message}',
                hint="fetch the image first with rkt fetch: --pod-manifest only uses the store",
            ) from err
        raw, image = store.manifest(image_id)
        if runtime_app.image.name is not None and runtime_app.image.name != image.name:
            raise _invalid(
                source,
                f"{where}.name",
                f'"{runtime_app.image.name}" is not the name of image {given}: expected '
                f'"{image.name}"',
            )
        app = _effective_app(runtime_app, image)
        if app is None:
            raise _invalid(
                source,
                f"apps[{index}].app",
                f'app "{runtime_app.name}" has no app section and neither has its image '
                f"{image.name}",
            )
        if not app.exec:
            raise _invalid(
                source, f"apps[{index}].app.exec", f'app "{runtime_app.name}" has no exec'
            )
        apps.append(replace(runtime_app, image=replace(runtime_app.image, id=image_id)))
        images.append(ManifestImage(runtime_app.name, image_id, raw, image))
    return ManifestPod(source, replace(manifest, apps=tuple(apps)), tuple(images))


def resolve_ports(pod: ManifestPod, net: str) -> ManifestPod:
    """The manifest's ``ports`` with the app ports they forward to (``podPort``), as ``--port``
    forwards are; a name no app exposes is an error (rkt's ForwardedPorts)."""
    from rkt.stage0 import options

    manifest = pod.manifest
    if not manifest.ports:
        return pod
    app_ports: list[Port] = []
    for runtime_app, image in zip(manifest.apps, pod.images, strict=True):
        app = _effective_app(runtime_app, image.image)
        app_ports.extend(app.ports if app is not None else ())
    known = {p.name for p in app_ports}
    for index, port in enumerate(manifest.ports):
        if port.name not in known:
            raise _invalid(
                pod.source,
                f"ports[{index}].name",
                f'no app of the pod has a port named "{port.name}" '
                f"(the apps' ports: {', '.join(sorted(known)) or 'none'})",
            )
    if net in options.NETS:
        raise _invalid(
            pod.source,
            "ports",
            f"ports cannot be forwarded with --net={net}",
            hint="ports are forwarded to a pod's CNI network: use rkt run --net=NETWORK",
        )
    try:
        ports = options.resolve_ports(manifest.ports, app_ports, net)
    except ConfigError as err:
        raise _invalid(pod.source, "ports", err.message) from err
    return ManifestPod(pod.source, replace(manifest, ports=ports), pod.images)


def prepare(
    store: Store,
    pods: Path,
    pod: ManifestPod,
    *,
    options: Options,
    use_overlay: bool = True,
    networks: Sequence[Selected] = (),
    private_users: bool = False,
    held: list[Pod] | None = None,
) -> str:
    """Create, fill and publish the pod of a resolved manifest (or hold it for ``rkt run``:
    :func:`rkt.stage0.prepare.create`); returns its UUID.

    The pod directory gets what :func:`rkt.stage0.prepare.prepare` writes for a generated
    manifest (stage1 reads both alike). Until the rename to ``prepared/`` the pod is a locked
    ``prepare/`` pod; on failure its mounts are detached and ``rkt gc`` removes it.
    """
    from rkt.stage0.prepare import PodContent, create

    if options.options.interactive and len(pod.images) != 1:
        raise ConfigError(
            f"--interactive needs a pod of one app: {pod.source} has {len(pod.images)}"
        )
    if options.stage1 == "fly" and len(pod.images) != 1:
        # parse_command counts image arguments for fly; a manifest's apps are counted here.
        raise ConfigError(
            f"the fly stage1 runs exactly one app per pod: {pod.source} has {len(pod.images)}"
        )
    content = PodContent(
        manifest=pod.manifest,
        images=tuple((image.app, image.image_id) for image in pod.images),
        options=options,
        use_overlay=use_overlay,
        networks=networks,
        private_users=private_users,
    )
    return create(store, pods, content, held=held)
