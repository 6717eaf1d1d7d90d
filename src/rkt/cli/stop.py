"""``rkt stop [--force] [--uuid-file=F] UUID...``: stop running pods (rkt.stage0.stop).

Each stopped pod's UUID is printed quoted on stdout; a pod that is not running, or could not be
stopped, is a line on stderr and makes the status 254 (rkt/stop.go).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.errors import PodError
from rkt.pod.pod import Pod, read_uuid_file
from rkt.pod.state import PodState

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

EXIT_FAILURE = 254


USE = "stop --uuid-file=FILE | UUID ..."


def add_arguments(flags: FlagSet) -> None:
    flags.add_bool("force", False, "kill the pod (SIGKILL) rather than stop its apps in order")
    flags.add_string("uuid-file", "", "read the pod's UUID from this file", metavar="FILE")
    flags.rest("uuids", "UUID", complete="pods:running")


def run(args: Namespace, config: Config) -> int:
    if bool(args.uuids) == bool(args.uuid_file):
        raise PodError("stop needs UUIDs or --uuid-file, not both")
    uuids = [read_uuid_file(args.uuid_file)] if args.uuid_file else list(args.uuids)
    failed = 0
    for uuid in uuids:
        try:
            pod = Pod.load(config.pods, uuid)
        except PodError as err:
            sys.stderr.write(f"stop: cannot get pod: {err}\n")
            failed += 1
            continue
        with pod:
            if pod.state is not PodState.RUNNING:
                sys.stderr.write(f'stop: pod "{pod.uuid}" is not running (it is {pod.state})\n')
                failed += 1
                continue
            from rkt.stage0.stop import stop

            def report(error: str, uuid: str = pod.uuid) -> None:
                if config.debug:
                    sys.stderr.write(f'stop: network teardown of "{uuid}": {error}\n')

            problem = stop(pod, force=args.force, report=report)
        if problem is None:
            sys.stdout.write(f'"{pod.uuid}"\n')
        else:
            sys.stderr.write(f'stop: error stopping "{pod.uuid}": {problem}\n')
            failed += 1
    if failed:
        sys.stderr.write(f"stop: failed to stop {failed} pod(s)\n")
        return EXIT_FAILURE
    return 0
