"""``rkt logs [--app=NAME] [--follow] [--since=DURATION|TIME] [--tail=N] [--timestamps]
[--format=json] UUID``: what a pod's apps wrote, while it runs and after it has exited, until gc.

Not in rkt 1.30 (its issue rkt#3082 was closed "won't fix"); podman's ``logs`` is the model.
Each app's stdout goes to our stdout and its stderr to our stderr; with several apps and no
``--app``, lines of all of them, in time order, each after its app's name. ``--format=json``
prints one object per line: ``{"time", "app", "stream", "log"}`` (RFC 3339, UTC).
"""

from __future__ import annotations

import json
import sys
from datetime import UTC
from typing import TYPE_CHECKING

from rkt.errors import PodError

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.pod.logs import Line

USE = "logs [--app=APPNAME] [--follow] [--since=DURATION|TIME] [--tail=N] UUID"
DESCRIPTION = """\
Prints what the pod's apps wrote to stdout and stderr (their "log" and "stream" modes), from
the logs the pod's monitor keeps in the pod's directory (one file per app, rotated at rkt run's
--log-max-size; one older file is kept). --since takes a duration (10m) or an RFC 3339 time;
--follow goes on printing what the apps write until the pod has exited."""


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flag_types import add_format_flag
    from rkt.cli.flags import BoolFlag, Flag

    flags.add_string("app", "", "the app whose log to print (all of the pod's by default)")
    flags.add(BoolFlag("follow", "go on printing what the apps write until the pod exits",
                       shorthand="f"))  # fmt: skip
    flags.add(Flag("since", "only lines from this long ago (10m) or this time (RFC 3339) on",
                   "", metavar="DURATION|TIME"))  # fmt: skip
    flags.add(Flag("tail", "only the last N lines (-1: all)", -1, type_name="int", check=int))
    flags.add(BoolFlag("timestamps", "print each line's time before it", shorthand="t"))
    add_format_flag(flags)
    flags.arg("uuid", "UUID", complete="pods")


def _since(text: str) -> int | None:
    """--since as ns since the epoch; None for no limit."""
    if not text:
        return None
    import time

    from rkt.cli.duration import parse_duration

    try:
        return int((time.time() - parse_duration(text)) * 1e9)
    except ValueError:
        pass
    from datetime import datetime

    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as err:
        raise PodError(f'--since="{text}": expected a duration (10m) or an RFC 3339 time') from err
    return int(moment.timestamp() * 1e9)


def _time(ns: int) -> str:
    from datetime import datetime

    moment = datetime.fromtimestamp(ns // 1_000_000_000, tz=UTC)
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{ns % 1_000_000_000:09d}Z"


class _Printer:
    def __init__(self, args: Namespace, prefix: bool) -> None:
        self.json = bool(args.format)
        self.timestamps = args.timestamps
        self.prefix = prefix

    def __call__(self, line: Line) -> None:
        if self.json:
            text = line.data.decode(errors="replace").removesuffix("\n")
            entry = {"time": _time(line.time), "app": line.app, "stream": line.stream,
                     "log": text}  # fmt: skip
            sys.stdout.write(json.dumps(entry) + "\n")
            return
        out = sys.stdout if line.stream == "stdout" else sys.stderr
        head = b""
        if self.timestamps:
            head += _time(line.time).encode() + b" "
        if self.prefix:
            head += line.app.encode() + b": "
        out.flush()
        out.buffer.write(head + line.data)
        out.buffer.flush()


def run(args: Namespace, config: Config) -> int:
    from rkt.cli.enter import choose_app  # one app of several: the same rule as enter's
    from rkt.pod import info, logs
    from rkt.pod.pod import Pod
    from rkt.pod.state import PodState

    since = _since(args.since)
    with Pod.load(config.pods, args.uuid) as pod:
        names = [app.name for app in info.apps(pod)]
        apps = [choose_app(pod, args.app, "logs")] if args.app else names
        pod_dir = pod.path
        running = pod.state is PodState.RUNNING
    found: list[Line] = []
    sizes = {}
    for app in apps:
        path = pod_dir / logs.LOGS_DIR / f"{app}.log"
        sizes[app] = path.stat().st_size if path.exists() else 0
        found += logs.lines(pod_dir, app)
    if len(apps) > 1:
        # Several apps: in time order (each app's own lines keep their log's order: an app's
        # stdout and stderr are two pipes, read in turn, whose interleaving no log can know).
        found.sort(key=lambda line: line.time)
    if since is not None:
        found = [line for line in found if line.time >= since]
    if args.tail >= 0:
        found = found[len(found) - args.tail :] if args.tail else []
    show = _Printer(args, prefix=len(apps) > 1)
    for line in found:
        show(line)
    if args.follow and running:
        _follow(config, args.uuid, pod_dir, apps, sizes, show)
    for app in apps:
        lost = logs.dropped(pod_dir, app)
        if lost:
            sys.stderr.write(f"logs: {lost} bytes of app {app}'s output are not in its log "
                             "(the disk was full)\n")  # fmt: skip
    return 0


def _follow(config: Config, uuid: str, pod_dir: object, apps: list[str], sizes: dict[str, int],
            show: _Printer) -> None:  # fmt: skip
    """Every app's new lines as they come, until the pod has exited (one thread per app: each
    follows one file)."""
    import threading

    from rkt.pod import logs
    from rkt.pod.pod import Pod
    from rkt.pod.state import PodState

    def running() -> bool:
        try:
            with Pod.load(config.pods, uuid) as pod:
                return pod.state is PodState.RUNNING
        except PodError:
            return False

    lock = threading.Lock()

    def one(app: str) -> None:
        for line in logs.follow(pod_dir, app, running, start_at=sizes[app]):  # type: ignore[arg-type]
            with lock:
                show(line)

    threads = [threading.Thread(target=one, args=(app,), daemon=True) for app in apps]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
