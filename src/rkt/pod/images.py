"""Which stored images pods still need, so that image removal never pulls a tree from under a
pod (rkt's ``image gc`` kept every image a pod referenced, whatever its last use)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from rkt.pod import layout
from rkt.pod.state import Phase

#: Pods in these directories may still mount their images' trees (garbage pods are being
#: deleted and no longer run).
_USING = (Phase.EMBRYO, Phase.PREPARE, Phase.PREPARED, Phase.RUN, Phase.EXITED_GARBAGE)


def images_in_use(pods: Path) -> set[str]:
    """The image IDs named by the ``treeStoreID`` of every app of every such pod."""
    used: set[str] = set()
    for phase in _USING:
        with contextlib.suppress(FileNotFoundError):
            for uuid in os.listdir(layout.phase_dir(pods, phase)):
                pod_dir = layout.phase_dir(pods, phase) / uuid
                with contextlib.suppress(FileNotFoundError, NotADirectoryError):
                    for app in os.listdir(pod_dir / layout.APPS_INFO):
                        with contextlib.suppress(OSError, UnicodeDecodeError):
                            tree = (pod_dir / layout.app_tree_id(app)).read_text("ascii")
                            tree = tree.strip()
                            if tree:
                                used.add(tree)
    return used
