"""Where a pod's network state lives in its directory, and the two questions ``rkt run`` asks
of it on every run (has the pod networks to ADD? anything to DEL?), answered with the standard
library alone so that a pod without CNI networks never imports the CNI client (rkt.net.pod)."""

from __future__ import annotations

import os
from pathlib import Path

#: the pod's network namespace file (a bind mount of an nsfs file)
NETNS = "netns"
#: the network configs as ADDed, and the CNI result cache the DELs read
CONF_DIR = "net/conf"
CACHE_DIR = "net/cache"
#: the networks ``--net`` selected, saved at prepare
NETWORKS_FILE = "net/networks.json"


def has_networks(pod_dir: Path) -> bool:
    return (pod_dir / NETWORKS_FILE).exists()


def needs_teardown(pod_dir: Path) -> bool:
    """Whether a teardown has anything to do: a namespace file or a cached attachment (false
    for ``--net=host``/``none``, for fly pods and once a teardown has succeeded)."""
    if os.path.lexists(pod_dir / NETNS):
        return True
    try:
        return any(name.endswith(".json") for name in os.listdir(pod_dir / CACHE_DIR))
    except OSError:
        return False
