"""Which stage1 flavor runs a pod, and each flavor's entry-point modules.

stage0 records a non-default flavor as the top-level ``"stage1"`` key of the pod's
``stage1/options.json`` when it prepares the pod (rkt.stage0.options); a pod without the key
(every pod prepared before flavors existed) is the default flavor's. The record is read through
the pod directory, so ``rkt run-prepared``, ``enter``, ``stop`` and ``gc`` use the flavor the pod
was prepared for, whatever flags they are given.
"""

from __future__ import annotations

import os

from rkt import jsondoc

DEFAULT = "coreos"
FLY = "fly"
#: The package whose ``run``, ``stop``, ``enter`` and ``gc`` modules implement each flavor.
PACKAGES = {DEFAULT: "rkt.stage1.executor", FLY: "rkt.stage1.fly"}
ENTRIES = ("run", "stop", "enter", "gc")
OPTIONS_FILE = "stage1/options.json"
#: The options file is small; refuse to parse a large one (as rkt.stage1.planner.load does).
_MAX_SIZE = 4 << 20


class FlavorError(Exception):
    """The pod names a flavor this runtime does not have, or its record is unreadable."""


def read_flavor(pod_dir: str | os.PathLike[str]) -> str:
    """The flavor recorded in ``pod_dir``; :data:`DEFAULT` when none is."""
    path = os.path.join(pod_dir, OPTIONS_FILE)
    try:
        with open(path, "rb") as f:
            data = f.read(_MAX_SIZE + 1)
    except FileNotFoundError:
        return DEFAULT
    except OSError as err:
        raise FlavorError(f"cannot read {path}: {err.strerror}") from err
    try:
        document = jsondoc.loads(data) if len(data) <= _MAX_SIZE else None
    except ValueError as err:
        raise FlavorError(f"{path} is not JSON: {err}") from err
    flavor = document.get("stage1", DEFAULT) if isinstance(document, dict) else DEFAULT
    if flavor not in PACKAGES:
        raise FlavorError(
            f"{path}: unknown stage1 flavor {flavor!r}",
        )
    return str(flavor)


def entry_module(flavor: str, entry: str) -> str:
    """The module to run as ``python -m`` for ``entry`` (one of :data:`ENTRIES`)."""
    if entry not in ENTRIES:
        raise ValueError(f"unknown stage1 entry {entry!r}")
    return f"{PACKAGES[flavor]}.{entry}"
