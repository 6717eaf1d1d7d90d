"""Pods as the API's ``Pod`` messages, and ``PodFilter`` (rkt's api_service.go semantics).

The fields are those ``rkt list``/``rkt status --format=json`` show (rkt.pod.api), in the API's
units: times in nanoseconds, the state as the ``PodState`` enum (exited garbage reads as
garbage, exited deleting as deleting, as rkt's API had them), networks as ``Network``
(name, ipv4 or ipv6). Beyond them: stage1's pid (-1 while unknown), the cgroup of a running
pod as /proc/<pid>/cgroup names it (the path inside its hierarchy), the pod manifest's and
its apps' annotations, and the manifest itself when asked for (``detail``). An embryo pod is
only its id and state, as in rkt. A pod whose files cannot be read is returned with what could
be read rather than hidden.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import msgspec

from rkt import jsondoc
from rkt.api import v1alpha_pb2 as pb
from rkt.errors import PodError
from rkt.linux.flocks import LockTable
from rkt.linux.mountinfo import mount_points
from rkt.pod import info, layout
from rkt.pod.pod import MOST_PHASES, Pod, walk_pods
from rkt.pod.state import PodState

__all__ = ["STATES", "Listing", "list_pods", "load_pod", "pod_message", "satisfies_any", "walk"]

#: appc's version, for every image (all are ACIs in the store, converted or not)
APPC_VERSION = "0.8.11"
STATES: dict[PodState, Any] = {
    PodState.EMBRYO: pb.POD_STATE_EMBRYO,
    PodState.PREPARING: pb.POD_STATE_PREPARING,
    PodState.ABORTED_PREPARE: pb.POD_STATE_ABORTED_PREPARE,
    PodState.PREPARED: pb.POD_STATE_PREPARED,
    PodState.RUNNING: pb.POD_STATE_RUNNING,
    PodState.DELETING: pb.POD_STATE_DELETING,
    PodState.EXITED_DELETING: pb.POD_STATE_DELETING,
    PodState.EXITED: pb.POD_STATE_EXITED,
    PodState.EXITED_GARBAGE: pb.POD_STATE_GARBAGE,
    PodState.GARBAGE: pb.POD_STATE_GARBAGE,
}
Log = Callable[[str], None]


def key_values(items: object, key: str = "name") -> list[Any]:
    """appc's ``[{"name": ..., "value": ...}]`` as ``KeyValue`` messages."""
    found = []
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get(key), str):
            found.append(pb.KeyValue(Key=item[key], value=str(item.get("value", ""))))
    return found


def _image(pod: Pod, app: str, image_id: str) -> Any:
    """The app's ``Image``: format, ID, and its name and version from appsinfo (as rkt)."""
    image = pb.Image(
        base_format=pb.ImageFormat(type=pb.IMAGE_TYPE_APPC, version=APPC_VERSION), id=image_id
    )
    try:
        doc = jsondoc.loads(info.read_bytes(pod, layout.app_image_manifest(app)))
    except (OSError, ValueError, PodError):
        return image
    if isinstance(doc, dict):
        image.name = str(doc.get("name", ""))
        versions = [v.value for v in key_values(doc.get("labels")) if v.Key == "version"]
        image.version = versions[0] if versions else "latest"
    return image


def _networks(pod: Pod) -> list[Any]:
    found = []
    for net in info.networks(pod):
        address = str(net.get("ip") or "")
        network = pb.Network(name=str(net.get("netName", "")))
        if ":" in address:  # an IPv6 address (rkt's API only ever filled ipv4)
            network.ipv6 = address
        elif address:
            network.ipv4 = address
        found.append(network)
    return found


def cgroup_name(directory: str, points: Sequence[str]) -> str:
    """A cgroup directory as /proc/<pid>/cgroup names it: the path below the mount point of
    its hierarchy (the longest mount point above it)."""
    above = [p for p in points if directory == p or directory.startswith(p.rstrip("/") + "/")]
    if not above:
        return directory
    return "/" + directory[len(max(above, key=len)) :].strip("/")


def _cgroup(pod: Pod, points: Sequence[str]) -> str:
    path = info.cgroup_path(pod)
    return cgroup_name(path, points) if path is not None else ""


def pod_message(
    pod: Pod, *, detail: bool, points: Sequence[str] = (), log: Log | None = None
) -> Any:
    message = pb.Pod(id=pod.uuid, state=STATES.get(pod.state, pb.POD_STATE_UNDEFINED), pid=-1)
    if pod.state is PodState.EMBRYO:
        return message
    try:
        _fill(pod, message, detail=detail, points=points)
    except (PodError, OSError, ValueError) as err:  # what could be read stays
        if log is not None:
            log(f"api service: pod {pod.uuid}: {err}")
    return message


def _fill(pod: Pod, message: Any, *, detail: bool, points: Sequence[str]) -> None:
    message.created_at = info.created_ns(pod)
    message.started_at = info.started_ns(pod)
    message.gc_marked_at = info.gc_marked_ns(pod)
    pid = info.pid(pod)
    message.pid = pid if pid is not None else -1
    message.networks.extend(_networks(pod))
    if pod.state is PodState.RUNNING:
        message.cgroup = _cgroup(pod, points)
    if not pod.state.manifest_available:
        return
    raw = info.manifest_bytes(pod)
    manifest = jsondoc.loads(raw)
    if not isinstance(manifest, dict):
        raise PodError(f"invalid pod manifest in pod {pod.uuid}: not a JSON object")
    if detail:
        message.manifest = raw
    message.annotations.extend(key_values(manifest.get("annotations")))
    runtime = {a.get("name"): a for a in manifest.get("apps") or [] if isinstance(a, dict)}
    for entry in info.apps(pod, manifest):
        app = pb.App(name=entry.name, image=_image(pod, entry.name, entry.image_id), exit_code=-1)
        app.annotations.extend(key_values(runtime.get(entry.name, {}).get("annotations")))
        if pod.state is PodState.RUNNING or pod.state.is_after_run:
            app.state = (
                pb.APP_STATE_RUNNING if pod.state is PodState.RUNNING else pb.APP_STATE_EXITED
            )
            code = info.exit_code(pod, entry.name)
            if code is not None:
                app.state, app.exit_code = pb.APP_STATE_EXITED, code
        message.apps.append(app)


def _has_all(actual: Iterable[Any], wanted: Iterable[Any]) -> bool:
    pairs = {(kv.Key, kv.value) for kv in actual}
    return all((kv.Key, kv.value) in pairs for kv in wanted)


def satisfies(pod: Any, f: Any) -> bool:
    """rkt's satisfiesPodFilter: every condition of the filter holds."""
    apps = {a.name for a in pod.apps}
    images = {a.image.id for a in pod.apps}
    networks = {n.name for n in pod.networks}
    return (
        (not f.ids or pod.id in f.ids)
        and (not f.states or pod.state in f.states)
        and set(f.app_names) <= apps
        and set(f.image_ids) <= images
        and set(f.network_names) <= networks
        and _has_all(pod.annotations, f.annotations)
        and (not f.cgroups or pod.cgroup in f.cgroups)
        and (
            not f.pod_sub_cgroups
            or (bool(pod.cgroup) and any(c.startswith(pod.cgroup) for c in f.pod_sub_cgroups))
        )
    )


def satisfies_any(pod: Any, filters: Sequence[Any]) -> bool:
    """No filter, or any of them (filters are or-ed, their conditions and-ed)."""
    return not filters or any(satisfies(pod, f) for f in filters)


def _points() -> list[str]:
    try:
        return mount_points()
    except OSError:
        return []


class Listing(msgspec.Struct, frozen=True):
    """One walk's pods, with their manifests (``detail``) and without."""

    detailed: list[Any]
    brief: list[Any]


def walk(pods_dir: Path, log: Log | None = None) -> Listing:
    """The pods ``rkt list`` shows, in UUID order."""
    if not os.path.isdir(pods_dir):
        return Listing([], [])
    table = LockTable(str(pods_dir))
    points = _points()
    detailed = [
        pod_message(pod, detail=True, points=points, log=log)
        for pod in walk_pods(pods_dir, MOST_PHASES, probe=table.locked)
    ]
    brief = []
    for message in detailed:
        copy = pb.Pod()
        copy.CopyFrom(message)
        copy.ClearField("manifest")
        brief.append(copy)
    return Listing(detailed, brief)


def list_pods(
    pods_dir: Path,
    filters: Sequence[Any],
    detail: bool,
    log: Log | None = None,
    listing: Listing | None = None,
) -> list[Any]:
    """``ListPods``: the pods of ``listing`` (or of a walk now) that pass the filters."""
    found = listing if listing is not None else walk(pods_dir, log)
    return [p for p in (found.detailed if detail else found.brief) if satisfies_any(p, filters)]


def load_pod(pods_dir: Path, uuid: str, log: Log | None = None) -> Any:
    """``InspectPod``: one pod by UUID (or unique prefix) with its manifest; PodNotFound or
    AmbiguousPod (rkt.errors) when the UUID names none or several."""
    table = LockTable(str(pods_dir)) if os.path.isdir(pods_dir) else None
    with Pod.load(pods_dir, uuid, probe=table.locked if table else None) as pod:
        return pod_message(pod, detail=True, points=_points(), log=log)
