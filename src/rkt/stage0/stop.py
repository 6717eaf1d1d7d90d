"""``rkt stop``'s work on one pod: stage1's ``stop`` of the pod's flavor, then the network.

stage1 sends SIGTERM (SIGKILL with ``force``) to the pod's PID 1, which stops the apps in
order. Unlike rkt's, stop then waits a bounded time for a pod with CNI networks to exit and
tears down what ``rkt run`` could not (rkt.stage0.netdown).
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable

from rkt.errors import PodError
from rkt.pod.pod import Pod
from rkt.stage1 import interface


def stop(pod: Pod, *, force: bool, report: Callable[[str], None]) -> str | None:
    """Stop ``pod`` (running, held by the caller); the reason it could not, or ``None``.
    ``report`` is told what of the network teardown failed (not fatal: gc retries it)."""
    try:
        flavor = interface.read_flavor(pod.path)
    except PodError as err:
        return str(err)
    command = interface.command(pod.path, flavor, "stop", *(["--force"] if force else []))
    try:
        done = subprocess.run(command, capture_output=True, text=True, check=False)
    except OSError as err:
        return f"cannot run stage1 stop ({command[0]}): {err.strerror}"
    if done.returncode != 0:
        return done.stderr.strip() or f"stage1 stop exited with status {done.returncode}"
    # Its network goes with it, if rkt run could not (netdown.py).
    from rkt.stage0.netdown import after_stop

    for error in after_stop(pod):
        report(error)
    return None
