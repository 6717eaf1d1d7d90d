"""``rkt gc``: mark exited and failed pods as garbage; delete garbage past the grace period.

Meant for a timer or cron job. Moves are reported on stderr and deletions on stdout, as
rkt prints them; see :mod:`rkt.pod.gc` for the passes. A last pass removes what pods whose
directories are gone left on the host (rkt.stage1.executor.leftovers).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.cli.duration import add_duration

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

USE = "gc [--grace-period=duration] [--expire-prepared=duration]"
DESCRIPTION = """\
Meant for a timer or a cron job. A pass moves exited pods (and prepared pods older than
--expire-prepared) to the garbage, and deletes those that have been garbage for longer than
--grace-period; --grace-period=0s deletes them in the same pass."""


def add_arguments(flags: FlagSet) -> None:
    add_duration(flags, "grace-period", 30 * 60.0,
                 "how long a pod stays in the garbage before it is deleted")  # fmt: skip
    add_duration(flags, "expire-prepared", 24 * 3600.0,
                 "how long a prepared pod may wait to be run before it expires")  # fmt: skip
    flags.add_bool("mark-only", False,
               "move exited and aborted pods to the garbage (so recording when they exited) "
               "without deleting any")  # fmt: skip


def _report(text: str, to_stdout: bool) -> None:
    (sys.stdout if to_stdout else sys.stderr).write(("" if to_stdout else "gc: ") + text + "\n")


def run(args: Namespace, config: Config) -> int:
    from rkt.stage0.gc import collect

    collect(
        config.pods,
        _report,
        grace_ns=int(args.grace_period * 1_000_000_000),
        expire_prepared_ns=int(args.expire_prepared * 1_000_000_000),
        mark_only=args.mark_only,
        dirs=config.dirs,
    )
    return 0
