"""A pod as rkt's API v1 ``Pod`` JSON object (api/v1/json.go), for ``--format=json``.

Fields Go marks ``omitempty`` are left out when empty. Pod times are seconds, app times
nanoseconds, as in rkt. Pods here are immutable (no ``rkt app`` yet), so each app's state
follows the pod's, and an app with an exit status has exited.
"""

from __future__ import annotations

from typing import Any

from rkt.errors import PodError
from rkt.pod import info
from rkt.pod.pod import Pod
from rkt.pod.state import PodState

_APP_STATE = {
    PodState.PREPARED: "created",
    PodState.RUNNING: "running",
    PodState.DELETING: "exited",
    PodState.EXITED_DELETING: "exited",
    PodState.EXITED: "exited",
    PodState.EXITED_GARBAGE: "exited",
    PodState.GARBAGE: "exited",
}


def v1_pod(pod: Pod) -> dict[str, Any]:
    """The v1.Pod object; raises :class:`PodError` when rkt would fail too (no creation
    time yet, unreadable manifest)."""
    doc: dict[str, Any] = {"name": pod.uuid, "state": pod.state.value}
    nets = info.networks(pod)
    if nets:
        doc["networks"] = nets
    started = info.started_ns(pod)
    created = info.created_ns(pod)
    if created <= 0:
        raise PodError(f"pod {pod.uuid}: invalid creation time", hint=str(pod.state))
    if not pod.state.manifest_available:
        doc["created_at"] = created // 1_000_000_000
        if started:
            doc["started_at"] = started // 1_000_000_000
        return doc
    manifest = info.manifest_document(pod)
    entries = info.apps(pod, manifest)
    return _with_apps(doc, pod, manifest, entries, created, started)


def v1_pod_as_far_as_known(pod: Pod) -> tuple[dict[str, Any], str]:
    """The v1.Pod object, or for a damaged pod (no manifest, a garbled one) what can still be
    told of it: its name, true state and times; with the reason it is partial ("" if whole)."""
    try:
        return v1_pod(pod), ""
    except (PodError, OSError) as err:
        doc: dict[str, Any] = {"name": pod.uuid, "state": pod.state.value}
        created, started = info.created_ns(pod), info.started_ns(pod)
        if created > 0:
            doc["created_at"] = created // 1_000_000_000
        if started:
            doc["started_at"] = started // 1_000_000_000
        return doc, str(err)


def _with_apps(
    doc: dict[str, Any],
    pod: Pod,
    manifest: dict[str, Any],
    entries: list[info.AppEntry],
    created: int,
    started: int,
) -> dict[str, Any]:
    if entries:
        doc["app_names"] = [a.name for a in entries]
        doc["apps"] = [_app(pod, a, manifest, created, started) for a in entries]
    doc["created_at"] = created // 1_000_000_000
    if started:
        doc["started_at"] = started // 1_000_000_000
    for key, field in (("userAnnotations", "user_annotations"), ("userLabels", "user_labels")):
        if manifest.get(key):
            doc[field] = dict(manifest[key])
    return doc


def _app(
    pod: Pod, entry: info.AppEntry, manifest: dict[str, Any], created: int, started: int
) -> dict[str, Any]:
    app: dict[str, Any] = {
        "name": entry.name,
        "state": _APP_STATE.get(pod.state, "unknown"),
        "created_at": created,
    }
    if started:
        app["started_at"] = started
    finished = info.gc_marked_ns(pod)  # the best guess rkt has for an immutable pod
    if finished:
        app["finished_at"] = finished
    code = info.exit_code(pod, entry.name)
    if code is not None:
        app["state"] = "exited"
        app["exit_code"] = code
    app["image_id"] = entry.image_id
    mounts = _mounts(entry.name, manifest)
    if mounts:
        app["mounts"] = mounts
    image_app = _runtime_app(manifest, entry.name).get("app")
    if not isinstance(image_app, dict):
        image_app = {}
    for key, field in (("userAnnotations", "user_annotations"), ("userLabels", "user_labels")):
        if image_app.get(key):
            app[field] = dict(image_app[key])
    # Go's encoder writes struct fields in declaration order; keep that order.
    order = ("name", "state", "created_at", "started_at", "finished_at", "exit_code",
             "image_id", "mounts", "user_annotations", "user_labels")  # fmt: skip
    return {k: app[k] for k in order if k in app}


def _mounts(app_name: str, manifest: dict[str, Any]) -> list[dict[str, Any]]:
    volumes = {v.get("name"): v for v in manifest.get("volumes") or [] if isinstance(v, dict)}
    out = []
    for mount in _runtime_app(manifest, app_name).get("mounts") or []:
        volume = mount.get("appVolume") or volumes.get(mount.get("volume"), {})
        out.append(
            {
                "name": mount.get("volume", ""),
                "container_path": mount.get("path", ""),
                "host_path": volume.get("source", ""),
                "read_only": bool(volume.get("readOnly", False)),
            }
        )
    return out


def _runtime_app(manifest: dict[str, Any], name: str) -> dict[str, Any]:
    for app in manifest.get("apps") or []:
        if isinstance(app, dict) and app.get("name") == name:
            return app
    return {}
