"""``python -m rkt.stage0.teardown --pod-dir=DIR --status=N``: the pod's end, in Python.

The pod's monitor (rkt-stage1, which holds the pod's lock) execs this once the pod's PID 1 has
exited, when the pod has networks to tear down (rkt.stage0.netdown.after_run: CNI DEL of every
network, newest first, and the network namespace), so that no Python process stays resident
while the pod runs. The lock is the inherited descriptor, released when this exits; the exit
status is the pod's, ``N``. Teardown errors are retried by ``rkt stop`` or gc; with ``--debug``
they are shown.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="rkt.stage0.teardown")
    parser.add_argument("--pod-dir", required=True)
    parser.add_argument("--status", type=int, required=True)
    parser.add_argument("--debug", action="store_true")
    args = parser.parse_args(argv)
    from rkt.stage0.netdown import after_run_at

    pod_dir = Path(args.pod_dir)
    try:
        errors = after_run_at(pod_dir, pod_dir.name)
    except Exception as err:  # the pod's status matters more; gc retries
        errors = [str(err)]
    if args.debug:
        for error in errors:
            sys.stderr.write(f"run: network teardown: {error}\n")
    return int(args.status)


if __name__ == "__main__":
    sys.stdout.flush()
    code = main()
    sys.stderr.flush()
    import os

    os._exit(code)
