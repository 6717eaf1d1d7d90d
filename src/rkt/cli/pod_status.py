"""``rkt status``: one pod's state, times, pid and its apps' exit statuses.

Prints ``key=value`` lines in rkt's order: state, created, started (once known), networks
(running or exited pods), then for pods that ran: pid (once known), exited, and after exit
``app-<name>=<status>`` per app in manifest order (and ``app-<name>-oom=true`` when the OOM
killer killed in its cgroup), and ``app-<name>-isolators=enforced:<n>,...;ignored:<n>,...``
per app with isolators (stage1's ``stage1/isolators.json``, ace.md's report of enforced and
ignored isolators; running pods too); ``cgroup=<dir>`` (after pid) is the pod's cgroup (its memory
hierarchy's). ``--format=json|json-pretty`` prints one v1.Pod object. ``--wait`` and
``--wait-ready`` take a boolean or a Go duration (``10s``,
``1m30s``); true or a negative duration waits forever, false or zero not at all.
"""

from __future__ import annotations

import sys
import time
from typing import TYPE_CHECKING

from rkt import jsondoc
from rkt.cli.duration import parse_duration
from rkt.errors import PodError
from rkt.pod import info, layout
from rkt.pod.pod import Pod, read_uuid_file
from rkt.pod.state import PodState

if TYPE_CHECKING:
    from collections.abc import Callable

    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

# strconv.ParseBool's spellings.
_GO_BOOL = dict.fromkeys(("1", "t", "T", "TRUE", "true", "True"), True) | dict.fromkeys(
    ("0", "f", "F", "FALSE", "false", "False"), False
)
_POLL = 0.1  # rkt polls every 100 ms


def parse_wait(text: str) -> float | None:
    """Seconds to wait: ``None`` forever, 0 not at all (rkt's parseDuration)."""
    if text == "" or _GO_BOOL.get(text) is True:
        return None
    if _GO_BOOL.get(text) is False:
        return 0.0
    seconds = parse_duration(text)
    return None if seconds < 0 else seconds


USE = "status [--wait=bool|timeout] [--wait-ready=bool|timeout] --uuid-file=FILE | UUID"
DESCRIPTION = """\
Prints the pod's state, times, pid and its apps' exit statuses.

--wait and --wait-ready take a boolean or a duration: true or a negative duration waits as
long as it takes, false or zero does not wait; --wait waits for the pod to exit, --wait-ready
for its apps to have started."""


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flag_types import add_format_flag

    flags.add_string(
        "wait", "false", "wait for the pod to exit (a boolean or a duration)", no_opt="true"
    )
    flags.add_string(
        "wait-ready", "false", "wait for the pod to be ready (a boolean or a duration)",
        no_opt="true",
    )  # fmt: skip
    add_format_flag(flags)
    flags.add_string("uuid-file", "", "read the pod's UUID from this file", metavar="FILE")
    flags.optional_arg("uuid", "UUID")


def _wait(pod: Pod, limit: float | None, done: Callable[[Pod], bool], what: str) -> None:
    deadline = None if limit is None else time.monotonic() + limit
    while True:
        pod.refresh()
        if done(pod):
            return
        if deadline is not None and time.monotonic() >= deadline:
            raise PodError(f"error waiting for {what}: context deadline exceeded")
        time.sleep(_POLL)


def status_lines(pod: Pod) -> list[str]:
    from rkt.cli.image_list import full_time

    state = pod.state
    created = info.created_ns(pod)
    lines = [
        f"state={state}",
        f"created={full_time(created) if created else '0001-01-01 00:00:00 +0000 UTC'}",
    ]
    started = info.started_ns(pod)
    if started:
        lines.append(f"started={full_time(started)}")
    if state in (PodState.RUNNING, PodState.EXITED):
        lines.append(f"networks={info.format_networks(info.networks(pod))}")
    ran = (PodState.RUNNING, PodState.DELETING, PodState.EXITED_DELETING)
    if state not in (*ran, PodState.EXITED, PodState.EXITED_GARBAGE):
        return lines
    pid = info.pid(pod)
    if pid is not None:
        lines.append(f"pid={pid}")
    cgroup = info.cgroup_path(pod)
    if cgroup is not None:
        lines.append(f"cgroup={cgroup}")
    exited = state in (PodState.EXITED, PodState.EXITED_GARBAGE)
    lines.append(f"exited={'true' if exited else 'false'}")
    lines.extend(_isolator_lines(pod))
    if state is not PodState.RUNNING:
        try:
            apps = info.apps(pod, info.manifest_document(pod))
        except PodError as err:
            # A damaged pod still has a state; what its apps did cannot be told.
            sys.stderr.write(f"status: {err}\n")
            apps = []
        for app in apps:
            code = info.exit_code(pod, app.name)
            if code is not None:
                lines.append(f"app-{app.name}={code}")
            if info.oom_killed(pod, app.name):
                lines.append(f"app-{app.name}-oom=true")
    return lines


def _isolator_lines(pod: Pod) -> list[str]:
    try:
        report = jsondoc.loads((pod.path / layout.ISOLATOR_REPORT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []  # Not run by this stage1 (or not yet).
    if not isinstance(report, dict):
        return []
    return [
        f"app-{name}-isolators={info.isolator_summary(entries)}"
        for name, entries in report.items()
        if isinstance(entries, list) and entries
    ]


def uuid_argument(args: Namespace, verb: str) -> str:
    if bool(args.uuid) == bool(args.uuid_file):
        raise PodError(f"{verb} needs exactly one of UUID and --uuid-file")
    return read_uuid_file(args.uuid_file) if args.uuid_file else str(args.uuid)


def run(args: Namespace, config: Config) -> int:
    try:
        wait, ready = parse_wait(args.wait), parse_wait(args.wait_ready)
    except ValueError as err:
        raise PodError(str(err)) from err
    with Pod.load(config.pods, uuid_argument(args, "status")) as pod:
        if ready != 0:
            _wait(pod, ready, info.supervisor_ready, "pod readiness")
        if wait != 0:
            _wait(pod, wait, lambda p: p.state.is_finished, "pod to finish")
        if args.format:
            from rkt.cli.pod_list import dump_json
            from rkt.pod.api import v1_pod_as_far_as_known

            found, problem = v1_pod_as_far_as_known(pod)
            if problem:
                sys.stderr.write(f"status: {problem}\n")
            sys.stdout.write(dump_json(found, args.format) + "\n")
        else:
            from rkt.cli.terminal import printable

            sys.stdout.write("".join(printable(line) + "\n" for line in status_lines(pod)))
    return 0
