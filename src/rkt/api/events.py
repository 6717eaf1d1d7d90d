"""``ListenEvents``: what changed on disk, as the API's events.

There is no daemon to hear events from, and no log of them: each stream takes a snapshot of
the pods (state, each app's exit status) and images (ID, name) when it opens, then every
:data:`INTERVAL` seconds takes another and reports the differences (rkt's API never
implemented this call). So events are those that happen while a stream is open, seen within
an interval, each timed when it was seen (seconds); a pod that goes through several states
between two looks yields each event its new state implies, in order. Transitions:

    a pod newly prepared                     POD_PREPARED
    a pod whose prepare was aborted          POD_PREPARE_ABORTED
    a pod running                            POD_STARTED, then APP_STARTED for each app
    an app's exit status recorded            APP_EXITED (data: exit_code)
    a pod no longer running                  POD_EXITED
    a pod gone from ``rkt list``'s dirs      POD_GARBAGE_COLLECTED
    an image added to / gone from the store  IMAGE_IMPORTED / IMAGE_REMOVED

``from`` is the pod's UUID for pod events, the app's name for app events, the image's name
for image events; ``id`` the pod's UUID or the image's ID.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import msgspec

from rkt.api import v1alpha_pb2 as pb
from rkt.api.images import list_images
from rkt.api.pods import list_pods
from rkt.datadir import DataDir

__all__ = ["INTERVAL", "PodView", "Snapshot", "diff", "snapshot", "stream"]

#: Seconds between two looks at the data dir.
INTERVAL = 0.5
_RAN = frozenset({pb.POD_STATE_EXITED, pb.POD_STATE_GARBAGE, pb.POD_STATE_DELETING})


class PodView(msgspec.Struct, frozen=True):
    state: int
    #: app name → exit status, None while it has none
    apps: tuple[tuple[str, int | None], ...] = ()


class Snapshot(msgspec.Struct, frozen=True):
    pods: Mapping[str, PodView]
    images: Mapping[str, str]


def snapshot(data_dir: Path) -> Snapshot:
    pods = {}
    for pod in list_pods(DataDir(data_dir).pods, (), detail=False):
        apps = tuple(
            (a.name, a.exit_code if a.state == pb.APP_STATE_EXITED else None) for a in pod.apps
        )
        pods[pod.id] = PodView(pod.state, apps)
    images = {image.id: image.name for image in list_images(data_dir, (), detail=False)}
    return Snapshot(pods, images)


def _event(kind: Any, subject: str, source: str, now: int, **data: str) -> Any:
    event = pb.Event(type=kind, id=subject, time=now)
    setattr(event, "from", source)  # "from" is a Python keyword
    event.data.extend(pb.KeyValue(Key=k, value=v) for k, v in data.items())
    return event


def _pod_events(uuid: str, old: PodView | None, new: PodView, now: int) -> list[Any]:
    events = []
    was = old.state if old is not None else pb.POD_STATE_UNDEFINED
    if new.state == pb.POD_STATE_ABORTED_PREPARE and was != new.state:
        events.append(_event(pb.EVENT_TYPE_POD_PREPARE_ABORTED, uuid, uuid, now))
    if new.state == pb.POD_STATE_PREPARED and was != new.state:
        events.append(_event(pb.EVENT_TYPE_POD_PREPARED, uuid, uuid, now))
    # Pods listed as garbage or deleting are exited ones (exited-garbage/): they ran.
    ran = {pb.POD_STATE_RUNNING, *_RAN}
    if new.state in ran and was not in ran:
        events.append(_event(pb.EVENT_TYPE_POD_STARTED, uuid, uuid, now))
        events.extend(_event(pb.EVENT_TYPE_APP_STARTED, uuid, app, now) for app, _ in new.apps)
    before = dict(old.apps) if old is not None else {}
    for app, code in new.apps:
        if code is not None and before.get(app) is None:
            events.append(_event(pb.EVENT_TYPE_APP_EXITED, uuid, app, now, exit_code=str(code)))
    if new.state in _RAN and was not in _RAN:
        events.append(_event(pb.EVENT_TYPE_POD_EXITED, uuid, uuid, now))
    return events


def diff(old: Snapshot, new: Snapshot, now: int) -> list[Any]:
    """The events that take ``old`` to ``new``, pods before images."""
    events = []
    for uuid, view in new.pods.items():
        events.extend(_pod_events(uuid, old.pods.get(uuid), view, now))
    for uuid in old.pods.keys() - new.pods.keys():
        events.append(_event(pb.EVENT_TYPE_POD_GARBAGE_COLLECTED, uuid, uuid, now))
    for image_id, name in new.images.items():
        if image_id not in old.images:
            events.append(_event(pb.EVENT_TYPE_IMAGE_IMPORTED, image_id, name, now))
    for image_id in old.images.keys() - new.images.keys():
        events.append(_event(pb.EVENT_TYPE_IMAGE_REMOVED, image_id, old.images[image_id], now))
    return events


def _wanted(event: Any, f: Any) -> bool:
    return (
        (not f.types or event.type in f.types)
        and (not f.ids or event.id in f.ids)
        and (not f.names or getattr(event, "from") in f.names)
        and (f.since_time <= 0 or event.time >= f.since_time)
    )


def stream(
    data_dir: Path,
    event_filter: Any,
    active: Callable[[], bool],
    *,
    interval: float = INTERVAL,
    clock: Callable[[], float] = time.time,
) -> Iterator[Any]:
    """``ListenEventsResponse`` messages while ``active()`` and before ``until_time``."""
    current = snapshot(data_dir)
    until = event_filter.until_time
    while active():
        now = clock()
        if until > 0 and now >= until:
            return
        time.sleep(interval if until <= 0 else max(0.0, min(interval, until - now)))
        fresh = snapshot(data_dir)
        events = [e for e in diff(current, fresh, int(clock())) if _wanted(e, event_filter)]
        current = fresh
        if events:
            yield pb.ListenEventsResponse(events=events)
