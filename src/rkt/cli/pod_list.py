"""``rkt list``: the pods in the data dir, one row per app, as rkt 1.30 prints them.

Columns UUID APP IMAGE NAME STATE CREATED STARTED NETWORKS (IMAGE ID after IMAGE NAME with
``--full``); the UUID is cut to 8 characters and times are humanized unless ``--full``; only
the first app of a pod repeats the pod's cells. ``--format=json|json-pretty`` prints a list of
v1.Pod objects. A pod whose manifest (or network record) is damaged is listed with its true
state and no apps; the problem is reported on stderr after the list, and the status stays 0,
as in rkt (which left such pods out). Schedulers call this in loops: it imports no appc
schema and no store.
"""

from __future__ import annotations

import json
import sys
import time
from typing import TYPE_CHECKING, Any

from rkt.cli.image_list import full_time, human_time, tabulate
from rkt.cli.terminal import printable
from rkt.errors import PodError
from rkt.pod import info
from rkt.pod.pod import MOST_PHASES, Pod, walk_pods

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

# Go's zero time.Time, which rkt prints for pods not yet prepared.
_GO_ZERO_FULL = "0001-01-01 00:00:00 +0000 UTC"


USE = "list"
DESCRIPTION = "Lists the pods, one line per app, or as JSON with --format."


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flag_types import add_format_flag

    flags.add_bool("no-legend", False, "leave out the header line")
    flags.add_bool("full", False, "print whole UUIDs and image IDs, and exact times")
    add_format_flag(flags)


def dump_json(value: Any, fmt: str) -> str:
    """Go's json.Marshal / MarshalIndent(v, "", "\\t")."""
    if fmt == "json-pretty":
        return json.dumps(value, indent="\t", ensure_ascii=False)
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _time(ns: int, full: bool, now: int) -> str:
    if full:
        return full_time(ns) if ns else _GO_ZERO_FULL
    return human_time(ns, now) if ns else "a long while ago"


def _rows(pod: Pod, full: bool, now: int, errors: list[str]) -> list[list[str]]:
    """The pod's rows; a pod whose manifest or network record is damaged still gets a row
    with its true state (and the problem goes to ``errors``)."""
    created = _time(info.created_ns(pod), full, now)
    started_ns = info.started_ns(pod)
    started = _time(started_ns, full, now) if started_ns else ""
    try:
        nets = info.format_networks(info.networks(pod))
    except (PodError, OSError) as err:
        nets = ""
        errors.append(f"Unable to read pod {pod.uuid} networks:\n  {err}")
    uuid = pod.uuid if full else pod.uuid[:8]
    head = [uuid, pod.state.value, created, started, nets]
    try:
        apps = info.apps(pod)
    except (PodError, OSError) as err:
        errors.append(f"Unable to read pod {pod.uuid} manifest:\n  {err}")
        apps = []
    if not apps:
        return [_row(head, "-", "-", "-", full)]
    rows = []
    for app in apps:
        name = info.image_name(pod, app.name)
        rows.append(_row(head, app.name, name or "--", app.image_id[:19], full))
        head = ["", "", "", "", ""]
    return rows


def _row(head: list[str], app: str, image: str, image_id: str, full: bool) -> list[str]:
    uuid, state, created, started, nets = head
    if full:
        return [uuid, app, image, image_id, state, created, started, nets]
    return [uuid, app, image, state, created, started, nets]


def run(args: Namespace, config: Config) -> int:
    pods_dir = config.pods
    errors: list[str] = []
    if args.format:
        from rkt.pod.api import v1_pod_as_far_as_known

        objects = []
        for pod in walk_pods(pods_dir, MOST_PHASES):
            try:
                found, problem = v1_pod_as_far_as_known(pod)
            except (PodError, OSError) as err:
                errors.append(str(err))
                continue
            objects.append(found)
            if problem:
                errors.append(problem)
        sys.stdout.write(dump_json(objects or None, args.format) + "\n")
    else:
        now = time.time_ns()
        rows: list[list[str]] = []
        if not args.no_legend:
            header = ["UUID", "APP", "IMAGE NAME", "STATE", "CREATED", "STARTED", "NETWORKS"]
            if args.full:
                header.insert(3, "IMAGE ID")
            rows.append(header)
        for pod in walk_pods(pods_dir, MOST_PHASES):
            try:
                rows.extend(_rows(pod, args.full, now, errors))
            except (PodError, OSError) as err:
                errors.append(f"Unable to read pod {pod.uuid}:\n  {err}")
        sys.stdout.write(tabulate(rows))
    if errors:
        _print_errors(errors)
    return 0


def _print_errors(errors: list[str]) -> None:
    """rkt's printErrors: a count, then each error between separator lines."""
    sep = "-" * 40
    out = [f"list: {len(errors)} error(s) encountered when listing pods:", f"list: {sep}"]
    for error in errors:
        out += [f"list: {printable(error)}", f"list: {sep}"]
    out += ["list: misc:", "list:   rkt's appc version: 0.8.11", "list: "]
    sys.stderr.write("\n".join(out) + "\n")
