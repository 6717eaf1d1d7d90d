"""What can be read about an open pod: manifest, times, pid, networks, exit statuses.

Every read goes through the pod's directory descriptor (see :mod:`rkt.pod.pod`). Times are
nanoseconds since the epoch, 0 for "not known" (Go's zero time in rkt). The manifest is read
with the stdlib JSON parser and only the fields listing needs, which keeps ``rkt list`` from
importing the full appc schema; ``cat-manifest`` validates with :mod:`appc.schema.pod`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import Any

import msgspec

from rkt import jsondoc
from rkt.errors import PodError
from rkt.pod import layout
from rkt.pod.pod import Pod
from rkt.pod.state import PodState

_O_FILE = os.O_RDONLY | os.O_CLOEXEC
_MAX_SMALL_FILE = 1 << 20  # pid files, statuses and net-info are tiny; refuse surprises


class AppEntry(msgspec.Struct, frozen=True):
    name: str
    image_id: str
    image_name: str | None = None


def read_bytes(pod: Pod, name: str, limit: int = 16 << 20) -> bytes:
    fd = os.open(name, _O_FILE, dir_fd=pod.fd)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read(limit + 1)
    finally:
        os.close(fd)
    if len(data) > limit:
        raise PodError(f"{name} of pod {pod.uuid} is larger than {limit} bytes")
    return data


def _read_int(pod: Pod, name: str) -> int | None:
    """Go's ``Sscanf("%d")``: a leading decimal integer; ``None`` if missing or not a number."""
    try:
        text = read_bytes(pod, name, _MAX_SMALL_FILE).decode("ascii", "replace").strip()
    except (FileNotFoundError, NotADirectoryError):
        return None
    digits = text.split()[0] if text.split() else ""
    try:
        return int(digits)
    except ValueError:
        return None


def _mtime_ns(pod: Pod, name: str) -> int | None:
    try:
        return os.stat(name, dir_fd=pod.fd, follow_symlinks=False).st_mtime_ns
    except (FileNotFoundError, NotADirectoryError):
        return None


def manifest_bytes(pod: Pod) -> bytes:
    try:
        return read_bytes(pod, layout.MANIFEST)
    except FileNotFoundError as err:
        raise PodError(f"pod {pod.uuid} has no pod manifest", hint=str(pod.state)) from err


def manifest_document(pod: Pod) -> dict[str, Any]:
    try:
        doc = jsondoc.loads(manifest_bytes(pod))
    except ValueError as err:
        raise PodError(f"invalid pod manifest in pod {pod.uuid}: {err}") from err
    if not isinstance(doc, dict):
        raise PodError(f"invalid pod manifest in pod {pod.uuid}: not a JSON object")
    return doc


def apps(pod: Pod, doc: dict[str, Any] | None = None) -> list[AppEntry]:
    """The pod's apps in manifest order; empty when no manifest can be expected yet."""
    if doc is None:
        if not pod.state.manifest_available:
            return []
        doc = manifest_document(pod)
    entries = []
    for app in doc.get("apps") or []:
        if not isinstance(app, dict) or not isinstance(app.get("name"), str):
            raise PodError(f"invalid pod manifest in pod {pod.uuid}: app without a name")
        image = app.get("image")
        image_id = image.get("id", "") if isinstance(image, dict) else ""
        entries.append(AppEntry(app["name"], str(image_id)))
    return entries


def image_name(pod: Pod, app: str) -> str | None:
    """``name[:version]`` of an app's image, from ``appsinfo/<app>/manifest`` (as rkt list)."""
    try:
        doc = jsondoc.loads(read_bytes(pod, layout.app_image_manifest(app)))
    except (FileNotFoundError, NotADirectoryError, ValueError):
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("name"), str):
        return None
    labels = doc.get("labels") or []
    version = next(
        (
            label.get("value")
            for label in labels
            if isinstance(label, dict) and label.get("name") == "version"
        ),
        None,
    )
    return f"{doc['name']}:{version}" if isinstance(version, str) else str(doc["name"])


def created_ns(pod: Pod) -> int:
    """When prepare finished writing the pod; 0 before the pod is prepared (rkt)."""
    if not (pod.state in (PodState.PREPARED, PodState.RUNNING) or pod.state.is_after_run):
        return 0
    for name in (layout.CREATED, layout.MANIFEST):  # pods before rkt 1.20 have no pod-created
        mtime = _mtime_ns(pod, name)
        if mtime is not None:
            return mtime
    return 0


def started_ns(pod: Pod) -> int:
    """When stage1 wrote its pid (or ppid) file; 0 if the pod never got that far."""
    if not (pod.state is PodState.RUNNING or pod.state.is_after_run):
        return 0
    for name in (layout.PID, layout.PPID):  # a stage1 writes one or the other
        mtime = _mtime_ns(pod, name)
        if mtime is not None:
            return mtime
    return 0


def gc_marked_ns(pod: Pod) -> int:
    """When gc marked the pod as garbage (see ``Pod._mark_time``); 0 if it is not garbage."""
    if pod.state not in (
        PodState.GARBAGE,
        PodState.EXITED_GARBAGE,
        PodState.DELETING,
        PodState.EXITED_DELETING,
    ):
        return 0
    return os.fstat(pod.fd).st_mtime_ns


def pid(pod: Pod) -> int | None:
    value = _read_int(pod, layout.PID)
    return value if value is not None else _read_int(pod, layout.PPID)


def stage1_root(pod: Pod) -> str:
    """Where stage1's root is readable: for rkt's stage1 images mounted as overlays, the upper
    dir once unmounted; for our built-in stage1 (no stage1 tree, only the app roots are
    overlays) and without overlay, the directory itself."""
    try:
        os.stat(layout.OVERLAY_PREPARED, dir_fd=pod.fd)
        tree = read_bytes(pod, layout.STAGE1_TREE_ID, _MAX_SMALL_FILE).decode().strip()
    except FileNotFoundError:
        return layout.STAGE1_ROOTFS
    return layout.overlay_upper(tree)


def cgroup_path(pod: Pod) -> str | None:
    """The pod's cgroup as stage1 recorded it (its path below the hierarchies' roots)."""
    from rkt.linux.cgroup import load

    cgroups = load(os.path.join(pod.path, layout.CGROUP_RECORD))
    return cgroups.path() if cgroups is not None else None


def oom_killed(pod: Pod, app: str) -> bool:
    """Whether stage1 saw the OOM killer kill in ``app``'s cgroup."""
    return os.path.lexists(pod.path / layout.OOM_DIR / app)


def exit_code(pod: Pod, app: str) -> int | None:
    """An app's exit status as stage1 recorded it, ``None`` while it has none."""
    return _read_int(pod, layout.app_status(stage1_root(pod), app))


def supervisor_ready(pod: Pod) -> bool:
    try:
        return os.readlink(layout.supervisor_status(stage1_root(pod)), dir_fd=pod.fd) == "ready"
    except (OSError, PodError, UnicodeDecodeError):
        return False  # rkt treats every error as "not ready"


def networks(pod: Pod) -> list[dict[str, Any]]:
    """The networks of a *running* pod (rkt loads them for no other state); ``[]`` when the
    pod runs with the host's network and so has no net-info.json."""
    if pod.state is not PodState.RUNNING:
        return []
    try:
        doc = jsondoc.loads(read_bytes(pod, layout.NET_INFO, _MAX_SMALL_FILE))
    except (FileNotFoundError, NotADirectoryError):
        return []
    except ValueError as err:
        raise PodError(f"error opening pod {pod.uuid} netinfo: {err}") from err
    return [n for n in doc if isinstance(n, dict)] if isinstance(doc, list) else []


def format_networks(nets: list[dict[str, Any]]) -> str:
    """``default:ip4=172.16.28.7, other:ip4=…`` as rkt list and status print them."""
    return ", ".join(f"{n.get('netName', '')}:ip4={n.get('ip', '<nil>')}" for n in nets)


def isolator_summary(entries: Iterable[dict[str, str]]) -> str:
    """``enforced:<n1>,<n2>;ignored:<n3>`` of an isolator report's entries (``rkt status``)."""
    entries = list(entries)
    parts = []
    for status in (layout.ISOLATOR_ENFORCED, layout.ISOLATOR_IGNORED):
        names = [str(e.get("name", "")) for e in entries if e.get("status") == status]
        parts.append(f"{status}:{','.join(names)}")
    return ";".join(parts)
