"""Assembling the pod manifest from the resolved images and the per-app overrides.

Follows rkt's stage0 generatePodManifest/generateRuntimeApp: each app carries its image's whole
app section with the command line's overrides applied, so the pod manifest alone says what
runs. Pod-wide environment (``--set-env``, ``--set-env-file``) is *not* merged here: it travels
in ``stage1/options.json`` and stage1 layers it (docs/stage1-interface.md); ``--environment``
is written into the app as rkt does and also passed as the top layer.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import msgspec
from msgspec.structs import replace

from appc.errors import ValidationError
from appc.schema.annotations import Annotation
from appc.schema.app import App
from appc.schema.environment import EnvironmentVariable
from appc.schema.image import ImageManifest
from appc.schema.isolator import Isolator, check_isolators
from appc.schema.name import sanitize_ac_name
from appc.schema.pod import Mount, PodManifest, RuntimeApp, RuntimeImage
from appc.schema.semver import SemVer
from appc.schema.volume import Volume
from rkt.errors import ConfigError
from rkt.stage0.apps import ISOLATOR_FLAGS, AppArgs

#: rkt marks every pod it prepares as immutable (no `rkt app add`) with this annotation.
MUTABLE_ANNOTATION = "coreos.com/rkt/stage1/mutable"


class ResolvedApp(msgspec.Struct, frozen=True):
    """An image argument resolved through the store: its full ID and manifest."""

    args: AppArgs
    image_id: str
    image: ImageManifest


def app_name(resolved: ResolvedApp) -> str:
    """``--name``, else the last path element of the image name as an AC Name
    (rkt's ImageNameToAppName: ``example.com/app/nginx`` → ``nginx``)."""
    if resolved.args.name is not None:
        return resolved.args.name
    try:
        return sanitize_ac_name(resolved.image.name.rsplit("/", 1)[-1])
    except ValidationError as err:
        raise ConfigError(f"cannot name the app of image {resolved.image.name}: {err}") from err


def merge_environment(
    base: Sequence[EnvironmentVariable], extra: Mapping[str, str], *, override: bool
) -> tuple[EnvironmentVariable, ...]:
    """rkt's mergeEnvs: ``extra`` replaces same-named variables only if ``override``."""
    merged = {v.name: v.value for v in base}
    for key, value in extra.items():
        if override or key not in merged:
            merged[key] = value
    return tuple(EnvironmentVariable(name=k, value=v) for k, v in merged.items())


def merge_mounts(pod_mounts: Sequence[Mount], app_mounts: Sequence[Mount]) -> tuple[Mount, ...]:
    """rkt's MergeMounts: an app's ``--mount`` supersedes a pod-wide one at the same path."""
    paths = {m.path for m in app_mounts}
    return (*(m for m in pod_mounts if m.path not in paths), *app_mounts)


def merge_isolators(
    base: Sequence[Isolator], overrides: Mapping[str, Isolator]
) -> tuple[Isolator, ...]:
    """rkt's prepareIsolators: each isolator flag's isolator replaces the image's isolators of
    its kind (both sets for capabilities and seccomp) and comes after the image's others."""
    replaced = {name for flag in overrides for name in ISOLATOR_FLAGS[flag]}
    return (*(i for i in base if i.name not in replaced), *overrides.values())


def _app_section(resolved: ResolvedApp, inherit_env: Mapping[str, str] | None) -> App:
    args, image = resolved.args, resolved.image
    app = image.app
    if app is None:
        if args.exec is None:
            raise ConfigError(
                f"image {image.name} has no app section and --exec argument is not provided"
            )
        # rkt's minimal app for an image without one runs as the caller.
        app = App(exec=None, user=str(os.getuid()), group=str(os.getgid()))
    changes: dict[str, object] = {}
    exec_ = list(app.exec or ())
    if args.exec is not None:
        exec_ = [args.exec]
    if args.args is not None:
        exec_ += args.args
    if args.exec is not None or args.args is not None:
        changes["exec"] = tuple(exec_)
    if args.working_dir:
        changes["working_directory"] = args.working_dir
    if args.user:
        changes["user"] = args.user
    if args.group:
        changes["group"] = args.group
    if args.supplementary_gids is not None:
        changes["supplementary_gids"] = args.supplementary_gids
    if args.user_annotations is not None:
        changes["user_annotations"] = dict(args.user_annotations)
    if args.user_labels is not None:
        changes["user_labels"] = dict(args.user_labels)
    if args.isolators:
        isolators = merge_isolators(app.isolators, args.isolators)
        try:
            check_isolators(isolators)
        except ValidationError as err:
            raise ConfigError(f"invalid isolators for image {image.name}: {err}") from err
        changes["isolators"] = isolators
    environment = app.environment
    if inherit_env is not None:
        # --inherit-env never overrides the image's own variables (rkt's order).
        environment = merge_environment(environment, inherit_env, override=False)
    environment = merge_environment(environment, args.environment, override=True)
    if environment != app.environment:
        changes["environment"] = environment
    if not (changes.get("exec") or app.exec):
        raise ConfigError(f"image {image.name} has no exec", hint="give one with --exec")
    return replace(app, **changes) if changes else app


def runtime_app(
    resolved: ResolvedApp,
    pod_mounts: Sequence[Mount] = (),
    inherit_env: Mapping[str, str] | None = None,
) -> RuntimeApp:
    image = resolved.image
    return RuntimeApp(
        name=app_name(resolved),
        image=RuntimeImage(id=resolved.image_id, name=image.name, labels=image.labels),
        app=_app_section(resolved, inherit_env),
        read_only_root_fs=resolved.args.readonly_rootfs,
        mounts=merge_mounts(pod_mounts, resolved.args.mounts),
        annotations=tuple(
            Annotation(name=k, value=v) for k, v in sorted(resolved.args.annotations.items())
        ),
    )


def pod_manifest(
    apps: Sequence[ResolvedApp],
    *,
    volumes: Sequence[Volume] = (),
    pod_mounts: Sequence[Mount] = (),
    inherit_env: Mapping[str, str] | None = None,
) -> PodManifest:
    """The pod manifest, validated by a round trip through the schema reader (so stage1
    never meets a manifest that ``rkt cat-manifest`` would reject)."""
    from appc import SPEC_VERSION

    runtime_apps: list[RuntimeApp] = []
    for resolved in apps:
        app = runtime_app(resolved, pod_mounts, inherit_env)
        if any(a.name == app.name for a in runtime_apps):
            raise ConfigError(
                f"multiple apps with name {app.name}", hint="give each image a --name"
            )
        runtime_apps.append(app)
    names = [v.name for v in volumes]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(f"volume {name} given more than once")
    for app in runtime_apps:
        for mount in app.mounts:
            if mount.volume not in names:
                raise ConfigError(
                    f"--mount of app {app.name} names volume {mount.volume}, "
                    "which no --volume defines"
                )
    manifest = PodManifest(
        ac_version=SemVer.parse(SPEC_VERSION),
        apps=tuple(runtime_apps),
        volumes=tuple(volumes),
        annotations=(Annotation(name=MUTABLE_ANNOTATION, value="false"),),
    )
    try:
        return PodManifest.from_json(manifest.to_json())
    except ValidationError as err:
        raise ConfigError(f"invalid pod manifest: {err}") from err
