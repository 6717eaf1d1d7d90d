"""The pods' side of the metadata service: ace.md's endpoints under ``/<token>/acMetadata/v1``.

A pure function of the request (:func:`handle`), so that every status, content type and body is
tested without a socket. Endpoints, as ace.md lists them (and rkt served them):

    GET  pod/annotations               application/json   the pod manifest's annotations
    GET  pod/annotations/<name>        text/plain         one of them (rkt's addition)
    GET  pod/manifest                  application/json   the pod manifest
    GET  pod/uuid                      text/plain         the pod's UUID
    GET  apps/<app>/annotations        application/json   image annotations, overridden by the
                                                          pod manifest app's
    GET  apps/<app>/annotations/<name> text/plain         one of them (rkt's addition)
    GET  apps/<app>/image/manifest     application/json   the app's image manifest
    GET  apps/<app>/image/id           text/plain         the app's image ID
    POST pod/hmac/sign                 text/plain         form ``content``: base64 HMAC-SHA512
    POST pod/hmac/verify               text/plain         form ``content``, ``uuid``,
                                                          ``signature``: 200, or 403 if it fails

Errors are plain text, one line: 400 for a malformed name or form, 401 when the token and the
requester's address do not name a registered pod (another pod's, or the host's, requests), 404
for an unknown endpoint, app or annotation, 405 for a wrong method (with ``Allow``).
"""

from __future__ import annotations

import base64
import binascii
import json
import uuid as uuidlib
from typing import Any
from urllib.parse import parse_qs, unquote

import msgspec

from rkt import jsondoc
from rkt.metadata.registry import Address, RegisteredPod, Registry

__all__ = ["JSON", "TEXT", "Response", "handle"]

TEXT = "text/plain; charset=us-ascii"
JSON = "application/json"
BASE = "acMetadata/v1"
#: Form bodies larger than this are refused (413): what a pod signs is a token, not a file.
MAX_FORM = 1 << 20


class Response(msgspec.Struct, frozen=True):
    status: int
    body: bytes
    content_type: str = TEXT
    headers: tuple[tuple[str, str], ...] = ()


def _text(status: int, message: str, headers: tuple[tuple[str, str], ...] = ()) -> Response:
    return Response(status, (message + "\n").encode("ascii", "replace"), TEXT, headers)


def _ok_text(value: str) -> Response:
    return Response(200, value.encode("ascii", "replace"), TEXT)


def _ok_json(value: object) -> Response:
    return Response(200, json.dumps(value, separators=(",", ":")).encode(), JSON)


def _document(raw: bytes) -> dict[str, Any]:
    doc = jsondoc.loads(raw)
    return doc if isinstance(doc, dict) else {}


def _valid_identifier(name: str) -> bool:
    from appc.errors import ValidationError
    from appc.schema.name import ac_identifier

    try:
        ac_identifier(name)
    except ValidationError:
        return False
    return True


def _valid_app_name(name: str) -> bool:
    from appc.errors import ValidationError
    from appc.schema.name import ac_name

    try:
        ac_name(name)
    except ValidationError:
        return False
    return True


def _lookup(annotations: object, name: str) -> str | None:
    for item in annotations if isinstance(annotations, list) else []:
        if isinstance(item, dict) and item.get("name") == name:
            value = item.get("value")
            return value if isinstance(value, str) else None
    return None


def _runtime_app(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    for app in manifest.get("apps") or []:
        if isinstance(app, dict) and app.get("name") == name:
            return app
    return {}


def _app_annotations(pod: RegisteredPod, app: str) -> list[dict[str, str]]:
    """rkt's mergeAppAnnotations: the image's, then the pod manifest app's replacing values of
    the same name in place (appc's Annotations.Set)."""
    merged: dict[str, str] = {}
    image = _document(pod.apps[app])
    runtime = _runtime_app(_document(pod.manifest), app)
    for source in (image.get("annotations"), runtime.get("annotations")):
        for item in source if isinstance(source, list) else []:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                merged[item["name"]] = str(item.get("value", ""))
    return [{"name": k, "value": v} for k, v in merged.items()]


def _pod_get(pod: RegisteredPod, rest: list[str]) -> Response:
    manifest = _document(pod.manifest)
    if rest == ["annotations"]:
        # The manifest's own value, null included: appc's decoder tells null from [].
        return _ok_json(manifest.get("annotations"))
    if rest[:1] == ["annotations"] and len(rest) > 1:
        name = "/".join(rest[1:])
        if not _valid_identifier(name):
            return _text(400, f'pod annotation "{name}" is not a valid AC Identifier')
        value = _lookup(manifest.get("annotations"), name)
        if value is None:
            return _text(404, f'pod annotation "{name}" not found')
        return _ok_text(value)
    if rest == ["manifest"]:
        return Response(200, pod.manifest, JSON)
    if rest == ["uuid"]:
        return _ok_text(pod.uuid)
    return _text(404, "no such endpoint")


def _app_get(pod: RegisteredPod, app: str, rest: list[str]) -> Response:
    if not _valid_app_name(app):
        return _text(400, f'app name "{app}" is not a valid AC Name')
    if app not in pod.apps:
        return _text(404, f'app "{app}" not found')
    if rest == ["annotations"]:
        return _ok_json(_app_annotations(pod, app))
    if rest[:1] == ["annotations"] and len(rest) > 1:
        name = "/".join(rest[1:])
        if not _valid_identifier(name):
            return _text(400, f'app annotation "{name}" is not a valid AC Identifier')
        value = _lookup(_app_annotations(pod, app), name)
        if value is None:
            return _text(404, f'app annotation "{name}" not found')
        return _ok_text(value)
    if rest == ["image", "manifest"]:
        return Response(200, pod.apps[app], JSON)
    if rest == ["image", "id"]:
        image = _runtime_app(_document(pod.manifest), app).get("image")
        image_id = image.get("id") if isinstance(image, dict) else None
        if not isinstance(image_id, str):
            return _text(404, f'app "{app}" has no image ID')
        return _ok_text(image_id)
    return _text(404, "no such endpoint")


def _form(body: bytes, content_type: str, query: str) -> dict[str, str] | None:
    """Go's ``Request.FormValue``: the URL-encoded body and the query string, first value of
    each field wins, body before query. ``None`` if the body cannot be read as a form."""
    fields: dict[str, str] = {}
    sources = []
    if content_type.split(";")[0].strip().lower() == "application/x-www-form-urlencoded":
        try:
            sources.append(body.decode("utf-8"))
        except UnicodeDecodeError:
            return None
    sources.append(query)
    for source in sources:
        for key, values in parse_qs(source, keep_blank_values=True).items():
            fields.setdefault(key, values[0])
    return fields


def _sign(registry: Registry, pod: RegisteredPod, form: dict[str, str]) -> Response:
    content = form.get("content", "")
    if not content:
        return _text(400, "content form value not found")
    signature = registry.sign(pod.uuid, content.encode())
    return _ok_text(base64.b64encode(signature).decode("ascii"))


def _verify(registry: Registry, form: dict[str, str]) -> Response:
    try:
        uuid = str(uuidlib.UUID(form.get("uuid", "")))
    except ValueError:
        return _text(400, "uuid field missing or malformed")
    content = form.get("content", "")
    if not content:
        return _text(400, "content field missing")
    try:
        signature = base64.b64decode(form.get("signature", ""), validate=True)
    except (binascii.Error, ValueError):
        return _text(400, "signature field missing or corrupt")
    if registry.verify(uuid, content.encode(), signature):
        return Response(200, b"", TEXT)
    return Response(403, b"", TEXT)


def handle(
    registry: Registry,
    method: str,
    target: str,
    peer: Address | None,
    body: bytes = b"",
    content_type: str = "",
) -> tuple[Response, str]:
    """The response to one request (``target`` is the request line's path and query) and the
    UUID of the pod it was for, ``""`` when it was for none (for the service's log)."""
    path, _, query = target.partition("?")
    parts = [unquote(p) for p in path.split("/")]
    # "", token, "acMetadata", "v1", then the endpoint
    if len(parts) < 5 or parts[0] != "" or "/".join(parts[2:4]) != BASE or not parts[1]:
        return _text(404, "no such endpoint"), ""
    pod = registry.identify(parts[1], peer)
    if pod is None:
        return _text(401, "no registered pod has this token and address"), ""
    rest = parts[4:-1] if parts[-1] == "" else parts[4:]  # a trailing slash is no segment
    if rest[:2] == ["pod", "hmac"]:
        if rest[2:] not in (["sign"], ["verify"]):
            return _text(404, "no such endpoint"), pod.uuid
        if method != "POST":
            return _text(405, "use POST", (("Allow", "POST"),)), pod.uuid
        if len(body) > MAX_FORM:
            return _text(413, f"form larger than {MAX_FORM} bytes"), pod.uuid
        form = _form(body, content_type, query)
        if form is None:
            return _text(400, "the form is not UTF-8"), pod.uuid
        if rest[2] == "sign":
            return _sign(registry, pod, form), pod.uuid
        return _verify(registry, form), pod.uuid
    if method not in ("GET", "HEAD"):
        return _text(405, "use GET", (("Allow", "GET, HEAD"),)), pod.uuid
    if rest[:1] == ["pod"] and len(rest) > 1:
        return _pod_get(pod, rest[1:]), pod.uuid
    if rest[:1] == ["apps"] and len(rest) > 2:
        return _app_get(pod, rest[1], rest[2:]), pod.uuid
    return _text(404, "no such endpoint"), pod.uuid
