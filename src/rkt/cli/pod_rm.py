"""``rkt rm``: remove pods now instead of waiting for gc; running pods are refused.

Each removed pod's UUID is printed quoted on stdout; problems go to stderr, and the status is
254 if any pod could not be removed (rkt/rm.go).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rkt.errors import PodError
from rkt.pod.pod import Pod, read_uuid_file

if TYPE_CHECKING:
    from rkt.config import Config

EXIT_FAILURE = 254


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("uuids", nargs="*", metavar="UUID", help="pod UUIDs (or unique prefixes)")
    add("--uuid-file", default="", help="read pod UUID from file instead of argument")


def _report(text: str, to_stdout: bool) -> None:
    (sys.stdout if to_stdout else sys.stderr).write(("" if to_stdout else "rm: ") + text + "\n")


def run(args: argparse.Namespace, config: Config) -> int:
    from rkt.pod.gc import remove

    if bool(args.uuids) == bool(args.uuid_file):
        raise PodError("rm needs UUIDs or --uuid-file, not both")
    uuids = [read_uuid_file(args.uuid_file)] if args.uuid_file else list(args.uuids)
    status = 0
    for uuid in uuids:
        try:
            pod = Pod.load(config.data_dir / "pods", uuid)
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
