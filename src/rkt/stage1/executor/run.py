"""``python -m rkt.stage1.executor.run --pod-dir=DIR [--debug] [--interactive]``: run a pod.

The entry point of the stage1 interface (docs/stage1-interface.md). Before anything else is
loaded it forks the helper that makes the pod's cgroup and moves this process into it
(rkt.linux.cgroup.Joining), which takes a kernel grace period; the planning and executing
modules load, and the pod is planned, meanwhile (rkt.stage1.executor.launcher).

Exit status: the pod's (see the supervisor), or 254 with one line on stderr for our own failures.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys

FAILURE = 254
#: With --interactive the app has the terminal; its ^Z (or a background read or write before
#: the app has taken it) must not stop the runtime. Inherited by PID 1; the app resets them.
_TERMINAL_STOPS = (signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU)


def lock_fd() -> int | None:
    """The pod lock's fd stage0 passes in ``RKT_LOCK_FD`` (docs/stage1-interface.md), checked
    open: stage1 keeps it so until the pod has exited; None when none was passed."""
    value = os.environ.get("RKT_LOCK_FD")
    if not value:
        return None
    fd = int(value)
    os.fstat(fd)
    return fd


def main(argv: list[str] | None = None, *, network_ready: int | None = None) -> int:
    """``network_ready``: a pipe stage0 writes b"1" to once the pod's networks are up (it
    forked us first, to ADD them while we start; their namespace file exists already); the
    apps do not start before, and the pod is not planned before if its DNS comes from them
    (rkt.stage1.executor.launcher.run)."""
    parser = argparse.ArgumentParser(
        prog="rkt.stage1.executor.run", description="Run a prepared pod."
    )
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--debug", action="store_true")
    parser.add_argument("--interactive", action="store_true")
    args = parser.parse_args(argv)
    pod_dir = os.path.abspath(args.pod_dir)
    if args.interactive:
        if not os.isatty(0):
            print("stage1: --interactive needs a terminal: stdin is not a tty", file=sys.stderr)
            return FAILURE
        for signum in _TERMINAL_STOPS:
            signal.signal(signum, signal.SIG_IGN)
    from rkt.linux.cgroup import Joining

    joining = Joining(os.path.basename(pod_dir.rstrip("/")), pod_dir)
    from rkt.stage1.executor.launcher import run

    return run(
        pod_dir,
        joining,
        debug=args.debug,
        interactive=args.interactive,
        network_ready=network_ready,
    )


if __name__ == "__main__":
    sys.exit(main())
