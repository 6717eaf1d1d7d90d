"""An OCI/Docker image config as an appc image manifest, the way docker2aci converted it
(appc/docker2aci lib/internal/internal.go, ``GenerateManifestV22``), for one squashed ACI:

- name: registry host and repository (AC Identifier-sanitised: ``localhost:5000/app`` becomes
  ``localhost_5000/app``); labels ``version`` (the tag), ``os`` and ``arch`` (appc spellings);
- ``exec``: Entrypoint followed by Cmd (a relative ``exec[0]`` is found along PATH at run
  time, as aci.md allows); environment from Env; ``workingDirectory`` from WorkingDir;
- ports from ExposedPorts (``80/tcp`` is port ``80-tcp``; a range becomes ``count``),
  mount points from Volumes (``/data`` is ``volume-data``), both sorted by name;
- ``user`` and ``group``: Docker's ``User`` (``user``, ``user:group``, numbers or names),
  root when empty. Names stay names, resolved in the image at run time. When only a user is
  given, Docker runs with that user's primary group from the image's /etc/passwd (runc's
  ``GetExecUser``), and gid 0 if the user has no entry; that group is looked up here, in the
  rendered tree, since appc has no "primary group" value (docker2aci used the uid);
- annotations ``appc.io/docker/{registryurl,repository,tag,imageid,manifesthash,entrypoint,
  cmd}`` plus ``created`` and ``author``.

Nothing that changes between two pulls of the same image (the time, the argument as typed)
goes into the manifest, so the converted ACI, and with it the image ID, is reproducible.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Callable

from appc.errors import ValidationError
from rkt.errors import FetchError
from rkt.fetch.oci.document import ContainerConfig, ImageConfig

AC_VERSION = "0.8.11"
DOCKER_ANNOTATION = "appc.io/docker/"
_PORT = re.compile(r"([0-9]{1,5})(?:-([0-9]{1,5}))?(?:/([a-z]+))?")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z_0-9.-]*")

#: Reads a small file of the image by absolute path (None when absent or unusable).
ReadImageFile = Callable[[str], bytes | None]


def _name_part(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _ports(config: ContainerConfig, warn: Callable[[str], None]) -> list[dict[str, object]]:
    ports: list[dict[str, object]] = []
    for spec in sorted(config.exposed_ports or {}):
        match = _PORT.fullmatch(spec)
        if match is None:
            warn(f'ignoring exposed port "{spec}": expected PORT[-END][/PROTOCOL]')
            continue
        first = int(match[1])
        last = int(match[2]) if match[2] else first
        if not 1 <= first <= last <= 65535:
            warn(f'ignoring exposed port "{spec}": not a port number or range')
            continue
        ports.append(
            {
                "name": _name_part(spec),
                "protocol": match[3] or "tcp",
                "port": first,
                "count": last - first + 1,
                "socketActivated": False,
            }
        )
    return sorted(ports, key=lambda p: str(p["name"]))


def _mount_points(config: ContainerConfig) -> list[dict[str, object]]:
    points: list[dict[str, object]] = []
    used: dict[str, int] = {}
    for path in sorted(config.volumes or {}):
        if not path.startswith("/"):
            path = "/" + path
        name = _name_part(os.path.join("volume", path.lstrip("/"))) or "volume"
        if name in used:
            # docker2aci's rule for two volumes that sanitise to one name.
            used[name] += 1
            name = f"{name}-{used[name] - 1}"
        else:
            used[name] = 1
        points.append({"name": name, "path": path, "readOnly": False})
    return sorted(points, key=lambda p: str(p["name"]))


def _environment(config: ContainerConfig, warn: Callable[[str], None]) -> list[dict[str, str]]:
    values: dict[str, str] = {}
    for entry in config.env or ():
        name, eq, value = entry.partition("=")
        if not eq:
            continue  # docker2aci skips these too
        if not _ENV_NAME.fullmatch(name):
            warn(f'ignoring environment variable "{name}": not a valid appc name')
            continue
        values[name] = value  # a later definition wins, as in Docker
    return [{"name": k, "value": v} for k, v in values.items()]


def _primary_group(user: str, read: ReadImageFile) -> str:
    """The gid Docker would run ``user`` with: its passwd entry's, else 0."""
    data = read("/etc/passwd")
    if data is not None:
        from appc.accounts import parse_passwd

        entries = parse_passwd(data)
        for entry in entries:
            if entry.name == user:
                return str(entry.gid)
        if user.isdigit():
            for entry in entries:
                if entry.uid == int(user):
                    return str(entry.gid)
    return "0"


def user_group(value: str, read: ReadImageFile) -> tuple[str, str]:
    if not value:
        return "0", "0"
    user, colon, group = value.partition(":")
    if colon and group:
        return user, group
    return user, _primary_group(user, read)


def image_manifest(
    *,
    name: str,
    version: str,
    os_arch: tuple[str, str],
    config: ImageConfig,
    annotations: list[tuple[str, str]],
    read: ReadImageFile,
    warn: Callable[[str], None],
) -> bytes:
    """The converted image manifest, validated, in the reference's JSON form."""
    from appc.schema.image import ImageManifest

    inner = config.config
    labels = [("version", version)] if version else []
    labels += [("os", os_arch[0]), ("arch", os_arch[1])]
    user, group = user_group(inner.user, read)
    app: dict[str, object] = {
        "exec": [*(inner.entrypoint or ()), *(inner.cmd or ())] or None,
        "user": user,
        "group": group,
        "environment": _environment(inner, warn),
        "mountPoints": _mount_points(inner),
        "ports": _ports(inner, warn),
    }
    if inner.working_dir:
        app["workingDirectory"] = os.path.normpath("/" + inner.working_dir.lstrip("/"))
    extra = list(annotations)
    if inner.entrypoint:
        extra.append((DOCKER_ANNOTATION + "entrypoint", json.dumps(list(inner.entrypoint))))
    if inner.cmd:
        extra.append((DOCKER_ANNOTATION + "cmd", json.dumps(list(inner.cmd))))
    if config.created and _valid_created(config.created):
        extra.append(("created", config.created))
    if config.author:
        extra.append(("authors", config.author))
    document = {
        "acKind": "ImageManifest",
        "acVersion": AC_VERSION,
        "name": name,
        "labels": [{"name": k, "value": v} for k, v in labels],
        "app": app,
        "annotations": [{"name": k, "value": v} for k, v in extra if v],
    }
    try:
        return ImageManifest.from_value(document).to_json()
    except ValidationError as err:
        raise FetchError(f"{name}: the image config cannot be converted: {err}") from err


def _valid_created(text: str) -> bool:
    from appc.schema.annotations import check_timestamp

    try:
        check_timestamp(text, "created")
    except ValidationError:
        return False
    return True
