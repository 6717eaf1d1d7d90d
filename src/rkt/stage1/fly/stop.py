"""``python -m rkt.stage1.fly.stop --pod-dir=DIR [--force]``: SIGTERM (SIGKILL) the fly app.

The pod's ``pid`` is the app's own process (there is no PID 1 to stop it in order), so the
signal goes straight to the app, as rkt's stage1_fly/stop does. rkt fell back to the process
group when the app was gone; ours is stage0's group (the app shares the caller's terminal), which
may hold the caller itself, so we do not. The waiting stage1 process records the app's status.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys

from rkt.stage1.stop import read_pid

FAILURE = 254


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rkt.stage1.fly.stop", description="Stop a fly pod.")
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)
    try:
        pid = read_pid(args.pod_dir)
    except (OSError, ValueError) as err:
        print(f"stage1-fly: cannot read the app's pid: {err}", file=sys.stderr)
        return FAILURE
    if pid is None:
        print("stage1-fly: the pod has no pid file: it is not running", file=sys.stderr)
        return FAILURE
    with contextlib.suppress(ProcessLookupError):  # Already exited is stopped, as asked.
        os.kill(pid, signal.SIGKILL if args.force else signal.SIGTERM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
