"""``python -m rkt.stage1.executor.run --pod-dir=DIR [--debug] [--interactive] [--detach]
[--log-max-size=BYTES]``: run a pod.

The entry point of the stage1 interface (docs/stage1-interface.md). stage0 calls :func:`main`
in its own process when it can (no other thread), passing ``network``, which ADDs the pod's
networks while the pod's first processes start; started as a command, it finds them up. Either
way this process ends as the pod's monitor (rkt.stage1.executor.launcher): on success
:func:`main` does not return.

Exit status: the pod's (the monitor's), or 254 with one line on stderr for our own failures.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

from rkt.stage1.interface import LOCK_FD_ENV

FAILURE = 254


def lock_fd() -> int | None:
    """The pod lock's fd stage0 passes in ``RKT_LOCK_FD`` (docs/stage1-interface.md), checked
    open: the monitor keeps it so until the pod has exited; None when none was passed."""
    value = os.environ.get(LOCK_FD_ENV)
    if not value:
        return None
    fd = int(value)
    os.fstat(fd)
    return fd


def main(
    argv: list[str] | None = None,
    *,
    network: Callable[[], None] | None = None,
    teardown: list[str] | None = None,
) -> int:
    """``network``: ADD the pod's networks (their namespace file exists already); the apps do
    not start before, and the pod is not planned before if its DNS comes from them.
    ``teardown``: what the monitor execs once the pod is gone (rkt.stage0.teardown)."""
    parser = argparse.ArgumentParser(
        prog="rkt.stage1.executor.run", description="Run a prepared pod."
    )
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--interactive", action="store_true")
    parser.add_argument("--teardown", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--detach", action="store_true")
    parser.add_argument("--log-max-size", type=int, default=None)
    args = parser.parse_args(argv)
    pod_dir = os.path.abspath(args.pod_dir)
    if args.interactive and not os.isatty(0):
        print("stage1: --interactive needs a terminal: stdin is not a tty", file=sys.stderr)
        return FAILURE
    try:
        lock_fd()
    except (OSError, ValueError) as err:
        print(f"stage1: bad {LOCK_FD_ENV}: {err}", file=sys.stderr)
        return FAILURE
    from rkt.stage1.executor.launcher import run

    return run(
        pod_dir,
        debug=args.debug,
        interactive=args.interactive,
        network=network,
        teardown=teardown or args.teardown or None,
        detach=args.detach,
        **({"log_max": args.log_max_size} if args.log_max_size is not None else {}),
    )


if __name__ == "__main__":
    sys.exit(main())
