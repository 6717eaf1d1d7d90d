"""An app's standard streams, planned from rkt 1.30's app annotations (pure).

``coreos.com/rkt/stage1/{stdin,stdout,stderr}`` (set by ``rkt run``/``prepare``'s
``--stdin``/``--stdout``/``--stderr``) hold one of "null", "log", "stream" or "tty":

- stdout and stderr are "log" by default: the pod's monitor writes them to the app's log in the
  pod directory (``rkt logs``) and, in the foreground, to ``rkt run``'s own stdout and stderr;
- stdin is "null" by default (rkt 1.30's default, and podman's without ``-i``);
- "stream" lets ``rkt attach`` read and write them through the monitor (and logs them);
- "tty" on any of them gives the app a pty of its own for all three, relayed by the monitor to
  ``rkt attach --mode=tty`` (and logged as stdout).

``--interactive``'s single app has the pod's console instead; under systemd with the journal
as output, stdout and stderr go to the journal (rkt.stage1.planner.systemd_units).
"""

from __future__ import annotations

from collections.abc import Iterable

from appc.schema.annotations import Annotation
from rkt.stage1.planner.plan import PlanError

PREFIX = "coreos.com/rkt/stage1/"
MODES = ("null", "log", "stream", "tty")
DEFAULTS = {"stdin": "null", "stdout": "log", "stderr": "log"}


def modes(annotations: Iterable[Annotation]) -> dict[str, str]:
    """The app's (stdin, stdout, stderr) modes from its annotations, defaults for the rest."""
    found = dict(DEFAULTS)
    for annotation in annotations:
        if not annotation.name.startswith(PREFIX):
            continue
        stream = annotation.name[len(PREFIX) :]
        if stream not in found:
            continue
        if annotation.value not in MODES or (stream == "stdin" and annotation.value == "log"):
            raise PlanError(f'{annotation.name}: "{annotation.value}" is not a mode for {stream}',
                            hint="null, log (not for stdin), stream or tty")  # fmt: skip
        found[stream] = annotation.value
    if "tty" in found.values():
        found = dict.fromkeys(found, "tty")  # one pty is all three
    return found
