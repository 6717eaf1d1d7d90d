"""``rkt run-prepared UUID``: run a pod that ``rkt prepare`` left in ``prepared/``; exits with
stage1's status (the app's, or 254 for stage1's own failures)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--interactive", action="store_true", help="run the pod interactively")
    add("--net", nargs="?", const="default", default="", help="ignored: fixed at prepare time")
    add("uuid", metavar="UUID", help="the pod's UUID (or an unambiguous prefix)")


def run(args: argparse.Namespace, config: Config) -> int:
    from rkt.datadir import DataDir
    from rkt.stage0.run import run_prepared

    pods = DataDir(config.data_dir).pods
    return run_prepared(pods, args.uuid, debug=config.debug, interactive=args.interactive)
