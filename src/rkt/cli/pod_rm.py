"""``rkt rm``: remove pods now instead of waiting for gc; running pods are refused.

Each removed pod's UUID is printed quoted on stdout; problems go to stderr, and the status is
254 if any pod could not be removed (rkt/rm.go).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.errors import PodError
from rkt.pod.pod import Pod, read_uuid_file

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

EXIT_FAILURE = 254


USE = "rm --uuid-file=FILE | UUID ..."
DESCRIPTION = "Removes the pods named at once, where gc removes exited pods after a while."


def add_arguments(flags: FlagSet) -> None:
    flags.add_string("uuid-file", "", "read the pod's UUID from this file", metavar="FILE")
    flags.rest("uuids", "UUID", complete="pods:prepared|exited|garbage")


def _report(text: str, to_stdout: bool) -> None:
    (sys.stdout if to_stdout else sys.stderr).write(("" if to_stdout else "rm: ") + text + "\n")


def run(args: Namespace, config: Config) -> int:
    from rkt.stage0.gc import remove

    if bool(args.uuids) == bool(args.uuid_file):
        raise PodError("rm needs UUIDs or --uuid-file, not both")
    uuids = [read_uuid_file(args.uuid_file)] if args.uuid_file else list(args.uuids)
    status = 0
    for uuid in uuids:
        try:
            pod = Pod.load(config.pods, uuid)
        except PodError as err:
            _report(f"cannot get pod: {err}", False)
            status = EXIT_FAILURE
            continue
        with pod:
            if remove(pod, _report):
                sys.stdout.write(f'"{pod.uuid}"\n')
            else:
                status = EXIT_FAILURE
    if status:
        _report("failed to remove one or more pods", False)
    return status
