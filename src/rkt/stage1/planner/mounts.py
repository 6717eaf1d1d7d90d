"""The ordered mount operations of one app.

Order matters and is fixed: the rootfs is bound onto itself (it becomes the new root), then the
kernel filesystems /proc and /sys (read-only), a minimal /dev (runc's default device set, as
systemd-nspawn gave rkt's apps), /tmp, the app's volumes, the generated /etc files, then the
read-only and masked kernel paths — after the volumes, so no volume can uncover them — and
last the read-only remount of the rootfs, which would otherwise stop the mounts above from
creating their targets.

Masked and read-only paths are the union of rkt's (stage1 app.go: protectKernel*) and Docker's
defaults. The executor skips a masked path the running kernel does not have.
"""

from __future__ import annotations

import stat

import msgspec

from appc.schema.app import MountPoint
from appc.schema.pod import RuntimeApp
from appc.schema.volume import EMPTY_DEFAULT_MODE, Volume
from rkt.stage1.planner import rootfs
from rkt.stage1.planner.plan import Mount, PlanError

#: Files hidden behind /dev/null: they leak host memory, keys or scheduler internals.
MASKED_FILES = (
    "proc/config.gz",
    "proc/kallsyms",
    "proc/kcore",
    "proc/keys",
    "proc/kmem",
    "proc/latency_stats",
    "proc/mem",
    "proc/sched_debug",
    "proc/timer_list",
    "proc/timer_stats",
)
#: Directories hidden behind an empty read-only tmpfs. rkt also hid /sys/fs, but only to bind
#: the pod's cgroup back later; the cgroup plan is the executor's, so /sys/fs stays visible.
MASKED_DIRS = (
    "proc/acpi",
    "proc/asound",
    "proc/scsi",
    "sys/devices/virtual/powercap",
    "sys/firmware",
    "sys/hypervisor",
    "sys/module",
    "sys/power",
)
#: Kernel tunables that stay readable but not writable. /sys needs none: it is mounted read-only.
READ_ONLY_PATHS = ("proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger")

#: runc's default devices (libcontainer/specconv AllowedDevices), bound from the host's /dev.
DEVICES = ("null", "zero", "full", "random", "urandom", "tty")

_NOSUID_NODEV_NOEXEC = ("nosuid", "nodev", "noexec")


class VolumeMount(msgspec.Struct, frozen=True):
    """A volume matched to a path of the app, as rkt's GenerateMounts pairs them."""

    volume: Volume
    path: str
    read_only: bool
    implicit: bool


def match_volumes(
    app_name: str,
    runtime_app: RuntimeApp,
    mount_points: tuple[MountPoint, ...],
    volumes: tuple[Volume, ...],
) -> tuple[VolumeMount, ...]:
    """Pair the pod manifest's mounts and the image's mount points with volumes.

    As rkt 1.30 does: each pod manifest mount (its own appVolume, else the pod volume of that
    name) comes first; then each mount point whose path no mount covers takes the pod volume
    of its name, or an implicit empty volume "<app>-<mount point>" (mode 0755, root-owned,
    pods.md defaults) when there is none. A volume's own readOnly, when set, wins over the
    mount point's, so ``--volume name,readOnly=false`` can open a read-only mount point.
    """
    by_name = {v.name: v for v in volumes}
    points = {mp.name: mp for mp in mount_points}
    result: list[VolumeMount] = []
    covered: set[str] = set()
    for mount in runtime_app.mounts:
        volume = mount.app_volume or by_name.get(mount.volume)
        if volume is None:
            raise PlanError(
                f'mount "{mount.path}" names volume "{mount.volume}", which the pod does not have',
                hint="add it with --volume",
            )
        point = points.get(mount.volume)
        read_only = point.read_only if point is not None else False
        if volume.read_only is not None:
            read_only = volume.read_only
        result.append(VolumeMount(volume, mount.path, read_only, implicit=False))
        covered.add(mount.path)
    for point in mount_points:
        if point.path in covered:
            continue
        found = by_name.get(point.name)
        volume = found or Volume(
            name=f"{app_name}-{point.name}", kind="empty", mode=EMPTY_DEFAULT_MODE, uid=0, gid=0
        )
        read_only = point.read_only if volume.read_only is None else volume.read_only
        result.append(VolumeMount(volume, point.path, read_only, implicit=found is None))
    return tuple(result)


def empty_volume_dir(pod_dir: str, name: str) -> str:
    """Where an empty volume lives on the host: inside the pod dir, so gc removes it."""
    return f"{pod_dir.rstrip('/')}/volumes/{name}"


def check_kernel_dirs(root: str) -> None:
    """/proc, /sys and /dev must be real directories (or absent) in the image: mounting onto a
    symlink would mount wherever it points (runc CVE-2019-16884, CVE-2023-28642)."""
    for name in ("proc", "sys", "dev"):
        info = rootfs.lstat(root, "/" + name, "kernel directory")
        if info is not None and not stat.S_ISDIR(info.st_mode):
            raise PlanError(
                f'"/{name}" in the image is not a directory (it must not be a symlink)',
                hint="fix the image so that /proc, /sys and /dev are plain directories",
            )


def _check_overlap(targets: list[tuple[str, str]]) -> None:
    # ace.md "Volume Setup": overlapping mount paths SHOULD be an error.
    for index, (target, path) in enumerate(targets):
        for other, other_path in targets[index + 1 :]:
            a, b = target.split("/"), other.split("/")
            if a[: len(b)] == b or b[: len(a)] == a:
                raise PlanError(f'mount paths "{path}" and "{other_path}" overlap')


def base_mounts(rootfs_path: str, interactive: bool, *, sysfs: bool = True) -> list[Mount]:
    """The rootfs, kernel filesystems, /dev and /tmp, in order. ``sysfs`` False binds the
    host's /sys (its top mount only) read-only instead of mounting a sysfs."""
    mounts = [
        # nodev here, on /dev and on empty volumes: a device node the app makes (CAP_MKNOD is in
        # rkt's default set) cannot be opened where the app can write, with or without a
        # devices cgroup (cgroup v2 has none without a BPF program). /dev's own nodes are
        # binds of the host's, mounts of their own that keep working.
        Mount("bind", rootfs_path, "", ("rbind", "nodev")),
        Mount("proc", "proc", "proc", _NOSUID_NODEV_NOEXEC),
        Mount("sysfs", "sysfs", "sys", _NOSUID_NODEV_NOEXEC, read_only=True)
        if sysfs
        else Mount("bind", "/sys", "sys", read_only=True),
        Mount(
            "tmpfs", "tmpfs", "dev", ("nosuid", "nodev", "strictatime", "mode=755", "size=65536k")
        ),
    ]
    mounts += [Mount("bind", f"/dev/{name}", f"dev/{name}") for name in DEVICES]
    mounts += [
        Mount(
            "devpts",
            "devpts",
            "dev/pts",
            ("nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"),
        ),
        Mount("symlink", "pts/ptmx", "dev/ptmx"),
        Mount("tmpfs", "shm", "dev/shm", (*_NOSUID_NODEV_NOEXEC, "mode=1777", "size=65536k")),
        Mount("mqueue", "mqueue", "dev/mqueue", _NOSUID_NODEV_NOEXEC),
        Mount("symlink", "/proc/self/fd", "dev/fd"),
        Mount("symlink", "/proc/self/fd/0", "dev/stdin"),
        Mount("symlink", "/proc/self/fd/1", "dev/stdout"),
        Mount("symlink", "/proc/self/fd/2", "dev/stderr"),
    ]
    if interactive:
        # The executor binds the pod's terminal (its own stdin) here; the source is its to know.
        mounts.append(Mount("bind", "", "dev/console", ("console",)))
    mounts.append(Mount("tmpfs", "tmpfs", "tmp", ("nosuid", "nodev", "mode=1777")))
    return mounts


def volume_mounts(root: str, pod_dir: str, matched: tuple[VolumeMount, ...]) -> list[Mount]:
    targets = []
    mounts = []
    for item in matched:
        target = rootfs.resolve(root, item.path, f'mount path for volume "{item.volume.name}"')
        if not target or target.split("/")[0] in ("proc", "sys", "dev"):
            raise PlanError(
                f'volume "{item.volume.name}" cannot be mounted at "{item.path}"',
                hint="/, /proc, /sys and /dev are the runtime's",
            )
        targets.append((target, item.path))
        # nodev on every volume: a device node there (made by the app with CAP_MKNOD, or on
        # the host) does not open, with or without a devices cgroup (cgroup v2 has none here).
        if item.volume.kind == "host":
            options: tuple[str, ...] = ("nodev",)
            if item.volume.recursive is not False:
                options = ("rbind", "nodev")
            source = item.volume.source
        else:
            options = ("nodev",)
            source = empty_volume_dir(pod_dir, item.volume.name)
        mounts.append(Mount("bind", source, target, options, read_only=item.read_only))
    _check_overlap(targets)
    return mounts


def etc_mount(root: str, source: str, path: str) -> Mount:
    target = rootfs.resolve(root, path, "generated file")
    if target.split("/")[0] in ("proc", "sys", "dev", ""):
        raise PlanError(f'"{path}" in the image leads to "/{target}", which cannot be replaced')
    return Mount("bind", source, target, read_only=True)


def protection_mounts(disabled: bool) -> list[Mount]:
    """Read-only and masked kernel paths; none with ``--insecure-options=paths``."""
    if disabled:
        return []
    mounts = [Mount("remount-ro", "", path) for path in READ_ONLY_PATHS]
    mounts += [Mount("mask", "", path) for path in MASKED_FILES]
    mounts += [Mount("mask", "", path, ("dir",)) for path in MASKED_DIRS]
    return mounts
