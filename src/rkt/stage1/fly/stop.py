"""``python -m rkt.stage1.fly.stop --pod-dir=DIR [--force]``: SIGTERM (SIGKILL) the fly app.

The pod's ``pid`` is the app's own process (there is no PID 1 to stop it in order), so the
signal goes straight to the app, as rkt's stage1_fly/stop does. rkt fell back to the process
group when the app was gone; ours is stage0's group (the app shares the caller's terminal), which
may hold the caller itself, so we do not. The waiting stage1 process records the app's status.
"""

from __future__ import annotations

import sys

from rkt.stage1.executor import stop


def main(argv: list[str] | None = None) -> int:
    return stop.main(argv, prog="rkt.stage1.fly.stop", who="stage1-fly", whose="the app's")


if __name__ == "__main__":
    sys.exit(main())
