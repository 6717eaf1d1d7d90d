"""The plan of a pod: frozen, inspectable data that stage1's executor performs in order.

Nothing here touches the kernel. Mount targets are always relative to the app's root (no
leading "/"), so a plan never names a host path as a target; sources of bind mounts are host
paths (volumes, generated files) or device paths the executor binds from its own /dev.
"""

from __future__ import annotations

import msgspec

from appc.schema.environment import EnvironmentVariable
from appc.schema.image import ImageManifest
from appc.schema.pod import PodManifest, RuntimeApp
from rkt.errors import Stage1Error
from rkt.stage1.interface import RunOptions

MOUNT_KINDS = frozenset(
    {
        "bind",
        "tmpfs",
        "proc",
        "sysfs",
        "devpts",
        "mqueue",
        "overlay",
        "remount-ro",
        "mask",
        "symlink",
    }
)


class PlanError(Stage1Error):
    """A pod cannot be planned: a user, executable, path or isolator is invalid or unsafe."""


class Mount(msgspec.Struct, frozen=True):
    """One operation on an app's mount namespace.

    ``kind`` is one of :data:`MOUNT_KINDS`. ``target`` is relative to the app root ("" is the
    root itself). ``remount-ro`` binds the target onto itself and makes it read-only. For
    ``symlink`` the ``source`` is the link's text; for ``mask`` the option
    "dir" says to cover a directory (with an empty read-only tmpfs) rather than a file (with
    /dev/null), as rkt's hiddenDirs / hiddenPaths split does.
    """

    kind: str
    source: str
    target: str
    options: tuple[str, ...] = ()
    read_only: bool = False

    def __post_init__(self) -> None:
        if self.kind not in MOUNT_KINDS:
            raise ValueError(f"unknown mount kind {self.kind!r}")
        if self.target.startswith("/") or ".." in self.target.split("/"):
            raise ValueError(f"mount target {self.target!r} must be relative to the app root")

    def describe(self) -> str:
        """``kind source -> /target [options] ro`` — one line, stable, for tests and --debug."""
        text = f"{self.kind} {self.source or '-'} -> /{self.target}"
        if self.options:
            text += " [" + ",".join(self.options) + "]"
        if self.read_only:
            text += " ro"
        return text


class GeneratedFile(msgspec.Struct, frozen=True):
    """A file the executor writes (under the pod dir) before the mounts that bind it."""

    path: str
    content: str
    mode: int = 0o644


class VolumeDirectory(msgspec.Struct, frozen=True):
    """An empty volume's directory, created by the executor before any app mounts it."""

    path: str
    mode: int
    uid: int
    gid: int


class Capabilities(msgspec.Struct, frozen=True):
    """The five capability sets of the app's first process, as CAP_* names."""

    bounding: tuple[str, ...]
    effective: tuple[str, ...]
    permitted: tuple[str, ...]
    inheritable: tuple[str, ...]
    ambient: tuple[str, ...] = ()


class Seccomp(msgspec.Struct, frozen=True):
    """A seccomp filter, unresolved: syscall names and ``@group`` names as given.

    ``mode`` is "retain" (allow only these, fail the rest) or "remove" (fail only these);
    ``errno`` is the errno name to fail with, "" meaning kill the process as ace.md says.
    """

    mode: str
    syscalls: tuple[str, ...]
    errno: str = ""
    #: Whether the app may make namespaces (clone/unshare with CLONE_NEW* flags, clone3): only
    #: with CAP_SYS_ADMIN, as Docker's default profile decides (rkt.stage1.planner.seccomp_groups).
    namespaces: bool = False


class IsolatorStatus(msgspec.Struct, frozen=True):
    """What the executor does with one isolator (ace.md: executors report which isolators were
    enforced or ignored): ``status`` "enforced" or "ignored", ``reason`` a short phrase,
    ``scope`` "app" (the app's own isolator) or "pod" (the pod manifest's)."""

    name: str
    status: str
    reason: str
    scope: str = "app"


#: The CFS period the cpu quotas are of, in µs; the kernel takes no quota under 1 ms.
CFS_PERIOD = 100_000
MIN_CPU_QUOTA = 1_000


class CgroupLimits(msgspec.Struct, frozen=True):
    """Limits of a cgroup; None: no limit. ``memory`` in bytes, ``cpu_quota`` in µs per
    ``cpu_period``, ``pids`` processes. The one type of them: the executor hands it to
    rkt.linux.cgroup as it is (that module's ``Limits`` protocol names what it reads)."""

    memory: int | None = None
    cpu_quota: int | None = None
    cpu_period: int = CFS_PERIOD
    cpu_shares: int | None = None
    pids: int | None = None
    #: bytes per second on each block device, read and write (resource/block-bandwidth)
    block_bps: int | None = None
    #: I/O operations per second on each block device (resource/block-iops)
    block_iops: int | None = None

    def __bool__(self) -> bool:
        """Whether any limit is set (``cpu_period`` alone limits nothing)."""
        values = (
            self.memory,
            self.cpu_quota,
            self.cpu_shares,
            self.pids,
            self.block_bps,
            self.block_iops,
        )
        return any(v is not None for v in values)


class AppPlan(msgspec.Struct, frozen=True):
    """One app as the executor runs it.

    ``pre_start`` and ``post_stop`` are the image's event handlers (aci.md "eventHandlers"),
    resolved like ``exec`` (absolute in-root path first) and run with the app's identity,
    environment, capabilities, working directory and root; ``()`` means none.
    """

    name: str
    image_name: str
    root: str
    exec: tuple[str, ...]
    uid: int
    gid: int
    supplementary_gids: tuple[int, ...]
    working_directory: str
    environment: tuple[tuple[str, str], ...]
    capabilities: Capabilities
    no_new_privs: bool
    seccomp: Seccomp | None
    read_only_rootfs: bool
    mounts: tuple[Mount, ...]
    pre_start: tuple[str, ...] = ()
    post_stop: tuple[str, ...] = ()
    #: The app's cgroup limits (resource/memory, resource/cpu, os/linux/cpu-shares, pids).
    limits: CgroupLimits = msgspec.field(default_factory=CgroupLimits)
    #: os/linux/oom-score-adj, written to the app's /proc/<pid>/oom_score_adj; None: inherit.
    oom_score_adj: int | None = None
    #: rkt 1.30's stream modes (rkt.stage1.planner.streams): "null", "log", "stream" or "tty"
    #: (stdin: not "log"); ``--interactive``'s console is none of them.
    stdin: str = "null"
    stdout: str = "log"
    stderr: str = "log"
    #: What becomes of each of the app's and the pod's isolators (planner.isolator_report).
    isolators: tuple[IsolatorStatus, ...] = ()
    #: The image says ``appc.io/executor/supports-systemd-notify``: the app gets a
    #: ``NOTIFY_SOCKET`` of its own (rkt.stage1.planner.systemd_units), and the pod is ready once it
    #: sent ``READY=1``.
    notify: bool = False
    #: Socket activation: the sockets systemd passed ``rkt run`` for the app's
    #: ``socketActivated`` ports, as (fd in the runtime, name); the app gets them as fds 3..
    #: with ``LISTEN_FDS``/``LISTEN_PID``/``LISTEN_FDNAMES``.
    listen_fds: tuple[tuple[int, str], ...] = ()
    #: Under systemd with ``rkt run``'s output going to the journal: the app's stdout and
    #: stderr are journal streams of its own, tagged with the app's name.
    journal: bool = False

    def env(self) -> dict[str, str]:
        return dict(self.environment)

    def describe_mounts(self) -> list[str]:
        return [m.describe() for m in self.mounts]


class PodPlan(msgspec.Struct, frozen=True):
    namespaces: tuple[str, ...]
    hostname: str
    hosts: str | None
    resolv_conf: str | None
    files: tuple[GeneratedFile, ...]
    volumes: tuple[VolumeDirectory, ...]
    apps: tuple[AppPlan, ...]
    #: Limits of the pod's cgroup as a whole (the apps' are below it).
    limits: CgroupLimits = msgspec.field(default_factory=CgroupLimits)
    #: os/unix/sysctl of the apps and the pod, checked as namespaced (rkt.stage1.planner.sysctl):
    #: (key, value), written by PID 1 before any app starts.
    sysctls: tuple[tuple[str, str], ...] = ()
    #: ``--private-users``: the host ids (first, count) of the pod's user namespace ("user" in
    #: ``namespaces``), whose ids 0.. they are
    user_range: tuple[int, int] | None = None

    def app(self, name: str) -> AppPlan:
        for app in self.apps:
            if app.name == name:
                return app
        raise KeyError(name)


class AppInput(msgspec.Struct, frozen=True):
    """One app of the pod as stage0 hands it over.

    ``environment`` holds the per-app ``--environment`` values, which win over everything;
    the image's own environment is the pod manifest app's (or the image's) ``environment``.
    """

    runtime_app: RuntimeApp
    image: ImageManifest
    rootfs: str
    environment: tuple[EnvironmentVariable, ...] = ()


class PodOptions(RunOptions, frozen=True, kw_only=True):
    """Pod-level run options: rkt run's flags that reach stage1 (the interface's
    :class:`~rkt.stage1.interface.RunOptions`, read from stage1/options.json), and what stage1
    learns from the pod directory and its own process.

    ``dns`` is rkt's ``--dns``: empty to leave the image's resolv.conf alone, ("host",) to bind
    the host's, ("none",) for no resolv.conf at all, else nameserver addresses.
    ``hosts_entries`` is ``--hosts-entry``: ("host", ()) binds the host's /etc/hosts; other
    entries are (ip, hostnames). ``host_resolv_conf`` / ``host_hosts`` are the host paths to
    bind for "host", so the plan stays free of host lookups.
    """

    pod_dir: str
    host_resolv_conf: str = "/etc/resolv.conf"
    host_hosts: str = "/etc/hosts"
    #: ``--private-users``: (first host id, count) the pod's ids 0.. are mapped onto
    user_range: tuple[int, int] | None = None
    #: the pod joins a network namespace stage0 made (CNI), rather than unsharing its own
    netns_joined: bool = False
    #: stage1's output is the journal stream systemd gave its service (rkt.linux.journal)
    journal: bool = False
    #: sockets systemd passed for socket activation: (fd, name, protocol, port)
    listen_sockets: tuple[tuple[int, str, str, int], ...] = ()


class PodInput(msgspec.Struct, frozen=True):
    manifest: PodManifest
    apps: tuple[AppInput, ...]
    options: PodOptions
