"""The registration side of the metadata service, served on a unix socket only root can reach.

rkt's paths, with the pod's addresses added so that the service can match requests to pods by
their network identity (rkt 1.30 used the token alone):

    PUT    /pods/<uuid>?token=<token>[&ip=<address>...]   body: the pod manifest
    PUT    /pods/<uuid>/<app>                             body: the app's image manifest
    DELETE /pods/<uuid>

A successful ``PUT /pods/<uuid>`` answers ``{"listen": ["0.0.0.0:18112", ...]}``: where the
service takes the pods' requests, from which stage0 builds ``AC_METADATA_URL``. Manifests are
validated (appc) before they are kept: the service hands them to pods as they came.
"""

from __future__ import annotations

import json
import re
import uuid as uuidlib
from collections.abc import Sequence
from urllib.parse import parse_qs, unquote

from rkt.metadata.public import JSON, Response
from rkt.metadata.registry import Address, Registry, parse_address

__all__ = ["MAX_MANIFEST", "handle"]

#: Manifests larger than this are refused (appc's own limit for manifests in images).
MAX_MANIFEST = 4 << 20
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,256}")


def _error(status: int, message: str) -> Response:
    return Response(status, (message + "\n").encode(), "text/plain; charset=utf-8")


def _uuid(text: str) -> str | None:
    try:
        value = str(uuidlib.UUID(text))
    except ValueError:
        return None
    return value if value == text.lower() else None


def _register_pod(
    registry: Registry, uuid: str, query: str, body: bytes, listen: Sequence[str]
) -> Response:
    fields = parse_qs(query, keep_blank_values=True)
    token = (fields.get("token") or [""])[0]
    if not _TOKEN.fullmatch(token):
        return _error(400, "token missing or malformed: expected 32 to 256 of [A-Za-z0-9_-]")
    addresses: list[Address] = []
    for text in fields.get("ip", []):
        try:
            addresses.append(parse_address(text))
        except ValueError:
            return _error(400, f"ip {text!r} is not an IP address")
    from appc.errors import ValidationError
    from appc.schema.pod import PodManifest

    try:
        PodManifest.from_json(body)
    except (ValidationError, ValueError) as err:
        return _error(400, f"invalid pod manifest: {err}")
    try:
        registry.add_pod(uuid, token, addresses, body)
    except ValueError as err:
        return _error(409, str(err))
    return Response(200, json.dumps({"listen": list(listen)}).encode(), JSON)


def _register_app(registry: Registry, uuid: str, app: str, body: bytes) -> Response:
    from appc.errors import ValidationError
    from appc.schema.image import ImageManifest
    from appc.schema.name import ac_name

    try:
        ac_name(app, "app")
        ImageManifest.from_json(body)
    except (ValidationError, ValueError) as err:
        return _error(400, f"app {app!r}: {err}")
    if not registry.add_app(uuid, app, body):
        return _error(404, f"pod {uuid} is not registered")
    return Response(200, b"", JSON)


def handle(
    registry: Registry, method: str, target: str, body: bytes, listen: Sequence[str]
) -> Response:
    path, _, query = target.partition("?")
    parts = [unquote(p) for p in path.split("/")]
    if len(parts) not in (3, 4) or parts[:2] != ["", "pods"]:
        return _error(404, "no such endpoint")
    uuid = _uuid(parts[2])
    if uuid is None:
        return _error(400, f"UUID {parts[2]!r} is missing or malformed")
    if len(body) > MAX_MANIFEST:
        return _error(413, f"manifest larger than {MAX_MANIFEST} bytes")
    if len(parts) == 4:
        if method != "PUT":
            return _error(405, "use PUT")
        return _register_app(registry, uuid, parts[3], body)
    if method == "PUT":
        return _register_pod(registry, uuid, query, body, listen)
    if method == "DELETE":
        if not registry.remove(uuid):
            return _error(404, f"pod {uuid} is not registered")
        return Response(200, b"", JSON)
    return _error(405, "use PUT or DELETE")
