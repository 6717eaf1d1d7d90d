"""``python -m rkt.stage1.executor.stop --pod-dir=DIR [--force]``: SIGTERM (SIGKILL) PID 1.

PID 1 passes SIGTERM on to the apps and kills what is left after a timeout (native/init.c).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from rkt.pod import layout

FAILURE = 254


def read_pid(pod_dir: str) -> int | None:
    for name in (layout.PID, layout.PPID):
        try:
            with open(os.path.join(pod_dir, name), "rb") as f:
                return int(f.read().strip())
        except FileNotFoundError:
            continue
    return None


def main(
    argv: list[str] | None = None,
    *,
    prog: str = "rkt.stage1.executor.stop",
    who: str = "stage1",
    whose: str = "the pod's",
) -> int:
    """SIGTERM (SIGKILL with ``--force``) the process in ``pid``/``ppid``; the fly flavor's
    stop is this with its own names (``who`` in messages, ``whose`` pid it is)."""
    parser = argparse.ArgumentParser(prog=prog, description="Stop a running pod.")
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        pid = read_pid(args.pod_dir)
    except (OSError, ValueError) as err:
        print(f"{who}: cannot read {whose} pid: {err}", file=sys.stderr)
        return FAILURE
    if pid is None:
        print(f"{who}: the pod has no pid file: it is not running", file=sys.stderr)
        return FAILURE
    # Already exited is stopped, as asked.
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL if args.force else signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
