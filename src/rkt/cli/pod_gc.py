"""``rkt gc``: mark exited and failed pods as garbage; delete garbage past the grace period.

Meant for a timer or cron job. Moves are reported on stderr and deletions on stdout, as
rkt prints them; see :mod:`rkt.pod.gc` for the passes.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rkt.cli.duration import parse_duration

if TYPE_CHECKING:
    from rkt.config import Config


def _duration_ns(text: str) -> int:
    return int(parse_duration(text) * 1_000_000_000)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add(
        "--grace-period",
        type=_duration_ns,
        default="30m0s",
        help="duration to wait before discarding inactive pods from garbage",
    )
    add(
        "--expire-prepared",
        type=_duration_ns,
        default="24h0m0s",
        help="duration to wait before expiring prepared pods",
    )
    add(
        "--mark-only",
        action="store_true",
        help="only move exited/aborted pods to the garbage, without deleting anything",
    )


def _report(text: str, to_stdout: bool) -> None:
    (sys.stdout if to_stdout else sys.stderr).write(("" if to_stdout else "gc: ") + text + "\n")


def run(args: argparse.Namespace, config: Config) -> int:
    from rkt.pod.gc import collect

    collect(
        config.data_dir / "pods",
        _report,
        grace_ns=args.grace_period,
        expire_prepared_ns=args.expire_prepared,
        mark_only=args.mark_only,
    )
    return 0
