"""Where pods live and what a pod directory holds; names follow rkt so data dirs interoperate.

    pods/<phase>/<uuid>/                   phase ∈ embryo prepare prepared run exited-garbage
                                           garbage (see :mod:`rkt.pod.state`)

Inside a pod directory (rkt's common/common.go and the stage1 implementors' guide):

    pod                                    the pod manifest (JSON), written by prepare
    pod-created                            empty; its mtime is the creation time (rkt ≥ 1.20;
                                           older pods fall back to the mtime of ``pod``)
    pid | ppid                             written by stage1: the pod's PID 1, or its parent;
                                           either one, and its mtime is the start time
    net-info.json                          the networks the pod joined (name, ifName, ip, …)
    appsinfo/<app>/manifest                the image manifest of each app's image
    appsinfo/<app>/treeStoreID             the rendered tree an app's overlay sits on
    stage1TreeStoreID                      the rendered stage1 tree
    overlay-prepared                       present when the pod uses overlayfs
    private-users-prepared                 present when the pod uses user namespaces
    overlay/<tree id>/{upper,work}/        overlay dirs per tree (stage1 and each app)
    stage1/rootfs/                         stage1's root; with overlay, read the upper dir
                                           ``overlay/<stage1 tree id>/upper`` once unmounted
    <stage1 root>/rkt/status/<app>         an app's exit status (decimal), written at exit
    <stage1 root>/rkt/status/<app>-created, <app>-started   mtimes of an app's steps
    <stage1 root>/rkt/supervisor-status    symlink to "ready" once the pod's supervisor is up
    pod.lck                                serialises `rkt app add/rm` on a mutable pod
    mds-registered                         the pod is registered with the metadata service
                                           (``--mds-register``); holds the service's socket
    netns                                  the pod's network namespace (CNI networks only)
    net/networks.json, net/conf/           the networks ``--net`` selected and their configs
    net/cache/                             the CNI results of the ADDs, for their DELs
    stage1/options.json                    the run options (rkt.stage1.interface.Options)
    stage1/cgroup                          the pod's cgroups, recorded by stage1
    stage1/oom/<app>                       present when the app was OOM-killed
    stage1/isolators.json                  the isolators each app got, enforced or ignored
    stage1/unenforced-isolators.json       what a stage1 could not enforce (warnings)
    stage1/seccomp/<app>                   each app's seccomp filter (BPF), for rkt enter
    stage1/etc/                            generated /etc/hosts and resolv.conf
    stage1/notify/                         sd_notify sockets of apps that use it
    stage1/logs/<app>, stage1/logs/stage1.log   the apps' logs and stage1's own
    stage1/attach/<app>                    the sockets ``rkt attach`` connects to

All names here are relative to the pod directory so that readers can open them with ``dir_fd``
on the pod's own descriptor: a gc pass may rename the directory at any moment, and the open
descriptor keeps pointing at the pod wherever it moves (rkt reads with openat for this reason).
"""

from __future__ import annotations

from pathlib import Path

from rkt.pod.state import Phase

MANIFEST = "pod"
CREATED = "pod-created"
PID = "pid"
PPID = "ppid"
NET_INFO = "net-info.json"
APPS_INFO = "appsinfo"
STAGE1_TREE_ID = "stage1TreeStoreID"
OVERLAY_PREPARED = "overlay-prepared"
PRIVATE_USERS_PREPARED = "private-users-prepared"
STAGE1_ROOTFS = "stage1/rootfs"
MUTATION_LOCK = "pod.lck"
MDS_REGISTERED = "mds-registered"
#: the run options stage0 hands to stage1 (rkt.stage1.interface.Options)
OPTIONS = "stage1/options.json"
#: the pod's network namespace, made by stage0 for CNI networks and joined by stage1
NETNS = "netns"
NETWORKS = "net/networks.json"
NET_CONF_DIR = "net/conf"
NET_CACHE_DIR = "net/cache"
CGROUP_RECORD = "stage1/cgroup"
OOM_DIR = "stage1/oom"
UNENFORCED_REPORT = "stage1/unenforced-isolators.json"
SECCOMP_DIR = "stage1/seccomp"
GENERATED_DIR = "stage1/etc"
NOTIFY_DIR = "stage1/notify"
LOGS_DIR = "stage1/logs"
RUNTIME_LOG = f"{LOGS_DIR}/stage1.log"
ATTACH_DIR = "stage1/attach"
#: stage1's per-app isolator report (ace.md: which isolators were enforced or ignored), and
#: the two statuses an entry has in it
ISOLATOR_REPORT = "stage1/isolators.json"
ISOLATOR_ENFORCED = "enforced"
ISOLATOR_IGNORED = "ignored"
UUID_LENGTH = 36


def phase_dir(pods: Path, phase: Phase) -> Path:
    return pods / phase.value


def pod_dir(pods: Path, phase: Phase, uuid: str) -> Path:
    return pods / phase.value / uuid


def app_root(app: str) -> str:
    """The app's root (stage0 mounts or copies it; stage1 runs the app in it)."""
    return f"{STAGE1_ROOTFS}/opt/stage2/{app}/rootfs"


def overlay_dir(name: str) -> str:
    """Where the overlay upper and work dirs of an app (or a tree) live."""
    return f"overlay/{name}"


def app_image_manifest(app: str) -> str:
    return f"{APPS_INFO}/{app}/manifest"


def app_tree_id(app: str) -> str:
    return f"{APPS_INFO}/{app}/treeStoreID"


def overlay_upper(tree_id: str) -> str:
    return f"{overlay_dir(tree_id)}/upper"


def status_dir(stage1_root: str) -> str:
    return f"{stage1_root}/rkt/status"


def app_status(stage1_root: str, app: str) -> str:
    return f"{status_dir(stage1_root)}/{app}"


def supervisor_status(stage1_root: str) -> str:
    return f"{stage1_root}/rkt/supervisor-status"


def is_uuid(name: str) -> bool:
    """A canonical lower-case UUID, the only names that count as pods in a phase directory."""
    if len(name) != UUID_LENGTH:
        return False
    for i, ch in enumerate(name):
        if i in (8, 13, 18, 23):
            if ch != "-":
                return False
        elif ch not in "0123456789abcdef":
            return False
    return True
