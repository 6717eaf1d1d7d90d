"""The manifest edits of ``actool patch-manifest``, as a pure function of the manifest.

Kept apart from the archive copying so that each edit can be tested on its own. Edits follow
the reference: ``--exec`` creates an app when the image has none, other app edits need one;
capability and seccomp flags replace isolators of their kind; mounts, ports and isolators are
appended.
"""

from __future__ import annotations

from typing import Any

from msgspec import Struct
from msgspec.structs import replace

from appc.errors import ValidationError
from appc.schema import linux, resource
from appc.schema.app import App, mount_point_from_string, port_from_string
from appc.schema.image import ImageManifest
from appc.schema.isolator import Isolator, check_isolators, parse_isolator
from appc.schema.name import ac_identifier


class Patch(Struct, frozen=True):
    name: str = ""
    exec: str = ""
    user: str = ""
    group: str = ""
    supplementary_groups: str = ""
    capability: str = ""
    revoke_capability: str = ""
    mounts: str = ""
    ports: str = ""
    isolators: str = ""
    seccomp_mode: str = ""
    seccomp_set: str = ""

    def touches_app(self) -> bool:
        return any(
            (
                self.user,
                self.group,
                self.supplementary_groups,
                self.capability,
                self.revoke_capability,
                self.mounts,
                self.ports,
                self.isolators,
                self.seccomp_mode,
            )
        )


def apply(manifest: ImageManifest, patch: Patch) -> ImageManifest:
    if patch.name:
        manifest = replace(manifest, name=ac_identifier(patch.name, "--name"))
    app = manifest.app
    if patch.exec:
        # As the reference: an image without an app gets one when an exec is given.
        app = app or App(exec=None, user="", group="")
        app = replace(app, exec=tuple(patch.exec.split(" ")))
    if patch.touches_app() and app is None:
        raise ValidationError("no app in the supplied manifest and no exec command provided")
    if app is None:
        return manifest
    app = _patch_app(app, patch)
    if not app.user or not app.group:
        missing = "user" if not app.user else "group"
        raise ValidationError(f"the app has no {missing}: expected --{missing}", f"app.{missing}")
    return replace(manifest, app=app)


def _patch_app(app: App, patch: Patch) -> App:
    changes: dict[str, Any] = {}
    if patch.user:
        changes["user"] = patch.user
    if patch.group:
        changes["group"] = patch.group
    if patch.supplementary_groups:
        changes["supplementary_gids"] = tuple(
            _gid(text) for text in patch.supplementary_groups.split(",")
        )
    isolators = list(app.isolators)
    if patch.capability and patch.revoke_capability:
        raise ValidationError(
            "conflicting capabilities isolators provided: use --capability or "
            "--revoke-capability, not both"
        )
    if patch.capability or patch.revoke_capability:
        retain = bool(patch.capability)
        names = (patch.capability or patch.revoke_capability).split(",")
        name = linux.CAPABILITIES_RETAIN_SET if retain else linux.CAPABILITIES_REMOVE_SET
        isolators = _replace(
            isolators,
            _isolator(name, {"set": names}, "--capability"),
            (linux.CAPABILITIES_RETAIN_SET, linux.CAPABILITIES_REMOVE_SET),
        )
    if patch.seccomp_mode:
        isolators = _replace(
            isolators,
            _seccomp(patch.seccomp_mode, patch.seccomp_set),
            (linux.SECCOMP_RETAIN_SET, linux.SECCOMP_REMOVE_SET),
        )
    elif patch.seccomp_set:
        raise ValidationError("--seccomp-set specified without --seccomp-mode")
    if patch.mounts:
        changes["mount_points"] = app.mount_points + tuple(
            mount_point_from_string(text) for text in patch.mounts.split(":")
        )
    if patch.ports:
        changes["ports"] = app.ports + tuple(
            port_from_string(text) for text in patch.ports.split(":")
        )
    if patch.isolators:
        isolators.extend(_isolator_from_string(text) for text in patch.isolators.split(":"))
    if isolators != list(app.isolators):
        check_isolators(isolators, "app.isolators")
        changes["isolators"] = tuple(isolators)
    return replace(app, **changes)


def _gid(text: str) -> int:
    if not text.isdigit():
        raise ValidationError(f'invalid supplementary group "{text}": expected a number')
    return int(text)


def _isolator(name: str, value: Any, where: str) -> Isolator:
    return parse_isolator({"name": name, "value": value}, where)


def _replace(isolators: list[Isolator], new: Isolator, names: tuple[str, ...]) -> list[Isolator]:
    return [i for i in isolators if i.name not in names] + [new]


def _seccomp(mode_text: str, set_text: str) -> Isolator:
    mode, errno = "", ""
    for arg in mode_text.split(","):
        key, sep, value = arg.partition("=")
        if not sep:
            mode = key
        elif key == "errno":
            errno = value
        else:
            raise ValidationError(f'invalid --seccomp-mode argument "{arg}": expected errno=NAME')
    if mode not in ("retain", "remove"):
        raise ValidationError(f'unknown seccomp mode "{mode}": expected retain or remove')
    name = linux.SECCOMP_RETAIN_SET if mode == "retain" else linux.SECCOMP_REMOVE_SET
    syscalls = [s for s in set_text.split(",") if s]
    return _isolator(name, {"set": syscalls, "errno": errno}, "--seccomp-set")


def _isolator_from_string(text: str) -> Isolator:
    """``resource/cpu,request=50m,limit=100m`` or ``os/linux/oom-score-adj,500`` (--isolators)."""
    name, *params = text.split(",")
    ac_identifier(name, "--isolators")
    if name in (linux.NO_NEW_PRIVILEGES, linux.OOM_SCORE_ADJ):
        if len(params) != 1:
            raise ValidationError(f'isolator {name}: expected "{name},VALUE"', "--isolators")
        import json

        try:
            value: Any = json.loads(params[0])
        except ValueError:
            raise ValidationError(
                f'isolator {name}: "{params[0]}" is not a JSON value', "--isolators"
            ) from None
        return _isolator(name, value, "--isolators")
    if name not in resource.READERS:
        raise ValidationError(f"isolator {name} is not supported for patching", "--isolators")
    doc: dict[str, Any] = {}
    for param in params:
        key, sep, value_text = param.partition("=")
        if not sep:
            raise ValidationError(f'isolator {name}: "{param}" is not KEY=VALUE', "--isolators")
        doc[key] = value_text.lower() == "true" if key == "default" else value_text
    return _isolator(name, doc, "--isolators")
