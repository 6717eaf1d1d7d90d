"""``python -m rkt.stage0.teardown --pod-dir=DIR --status=N``: the pod's end, in Python.

The pod's monitor (rkt-stage1, which holds the pod's lock) execs this once the pod's PID 1 has
exited, when the pod has networks to tear down (rkt.stage0.netdown.after_run: CNI DEL of every
network, newest first, and the network namespace), so that no Python process stays resident
while the pod runs. The lock is the inherited descriptor, released when this exits; the exit
status is the pod's, ``N``. Teardown errors are retried by ``rkt stop`` or gc; with ``--debug``
they are shown.
"""

from __future__ import annotations

import sys
from pathlib import Path

from rkt import without_typing_extensions

USAGE = "usage: python -m rkt.stage0.teardown --pod-dir=DIR --status=N [--debug]"


def main(argv: list[str] | None = None) -> int:
    # No argparse: the monitor is the only caller, and this runs at the end of every pod with a
    # network (6 ms of imports saved on each).
    pod_dir, status, debug = "", None, False
    for word in sys.argv[1:] if argv is None else argv:
        name, _, value = word.partition("=")
        if name == "--pod-dir" and value:
            pod_dir = value
        elif name == "--status" and value.lstrip("-").isdigit():
            status = int(value)
        elif word == "--debug":
            debug = True
        else:
            sys.stderr.write(f"rkt.stage0.teardown: unexpected {word!r}\n{USAGE}\n")
            return 254
    if not pod_dir or status is None:
        sys.stderr.write(f"{USAGE}\n")
        return 254
    without_typing_extensions()
    from rkt.stage0.netdown import after_run_at

    path = Path(pod_dir)
    try:
        errors = after_run_at(path, path.name)
    except Exception as err:  # the pod's status matters more; gc retries
        errors = [str(err)]
    if debug:
        for error in errors:
            sys.stderr.write(f"run: network teardown: {error}\n")
    return status


if __name__ == "__main__":
    sys.stdout.flush()
    code = main()
    sys.stderr.flush()
    import os

    os._exit(code)
