"""The fly flavor's plan: what :mod:`rkt.stage1.fly.run` does for the pod's single app, built
purely from what stage0 left in the pod directory (docs/architecture.md, step 5).

The app's identity, environment, exec and working directory are resolved exactly as the default
flavor resolves them (the same planning modules), so an image behaves the same under both. The
mounts are rkt fly's (stage1_fly/run): the host's /dev, /proc and /sys bound recursively, a
fresh /tmp, then the volumes, which are bound non-recursively unless the volume says
``recursive=true`` (rkt fly's choice: binding a recursive ``/`` into several apps could pile up
mounts on the host). Nothing is masked and no capability is dropped: fly runs host tools with
the host's privileges. Nothing here mounts, forks or writes.
"""

from __future__ import annotations

import msgspec
from msgspec.structs import replace

from rkt.pod import layout
from rkt.stage1.planner import environment, executable, hosts, mounts, rootfs, user
from rkt.stage1.planner.plan import (
    AppInput,
    GeneratedFile,
    Mount,
    PlanError,
    PodInput,
    VolumeDirectory,
)

#: Generated /etc files (``--dns=…``, ``--hosts-entry=IP=NAME``) live here, as the default's.
GENERATED_DIR = layout.GENERATED_DIR
#: The host directories bound into the app, recursively: their submounts (/dev/pts, /dev/shm,
#: /sys/fs/cgroup, binfmt_misc…) are what host tools expect to find there.
HOST_DIRS = ("dev", "proc", "sys")


class FlyPlan(msgspec.Struct, frozen=True):
    """The one app of a fly pod, as :mod:`rkt.stage1.fly.run` executes it."""

    name: str
    root: str
    exec: tuple[str, ...]
    uid: int
    gid: int
    #: the primary gid first, then the app's supplementary gids (rkt fly's setgroups list)
    groups: tuple[int, ...]
    working_directory: str
    environment: tuple[tuple[str, str], ...]
    #: in order, targets relative to ``root`` (rkt.stage1.planner.plan.Mount)
    mounts: tuple[Mount, ...]
    files: tuple[GeneratedFile, ...] = ()
    volumes: tuple[VolumeDirectory, ...] = ()

    def env(self) -> dict[str, str]:
        return dict(self.environment)

    def describe_mounts(self) -> list[str]:
        return [m.describe() for m in self.mounts]


def _volume_mounts(item: AppInput, pod: PodInput) -> tuple[list[Mount], list[VolumeDirectory]]:
    app = item.runtime_app.app or item.image.app
    points = app.mount_points if app is not None else ()
    name = item.runtime_app.name
    matched = mounts.match_volumes(name, item.runtime_app, points, pod.manifest.volumes)
    planned = mounts.volume_mounts(item.rootfs, pod.options.pod_dir, matched)
    result = []
    for volume, mount in zip(matched, planned, strict=True):
        recursive = volume.volume.kind == "host" and volume.volume.recursive is True
        result.append(replace(mount, options=("rbind",) if recursive else ()))
    directories = [
        VolumeDirectory(
            mounts.empty_volume_dir(pod.options.pod_dir, m.volume.name),
            int(m.volume.mode or "0755", 8),
            m.volume.uid or 0,
            m.volume.gid or 0,
        )
        for m in matched
        if m.volume.kind == "empty"
    ]
    return result, directories


def _etc(item: AppInput, pod: PodInput, hostname: str) -> tuple[list[Mount], list[GeneratedFile]]:
    """--dns and --hosts-entry: the host's files bound for ``host``, generated ones otherwise;
    without either flag the image's own /etc files are left alone (rkt fly's "default")."""
    options = pod.options
    generated = f"{options.pod_dir.rstrip('/')}/{GENERATED_DIR}"
    binds: list[Mount] = []
    files: list[GeneratedFile] = []
    mode = hosts.resolv_conf_mode(options)
    text = hosts.resolv_conf(options)
    if mode == hosts.HOST:
        binds.append(mounts.etc_mount(item.rootfs, options.host_resolv_conf, "/etc/resolv.conf"))
    elif text is not None:
        files.append(GeneratedFile(f"{generated}/resolv.conf", text))
        binds.append(mounts.etc_mount(item.rootfs, files[-1].path, "/etc/resolv.conf"))
    if hosts.hosts_from_host(options):
        binds.append(mounts.etc_mount(item.rootfs, options.host_hosts, "/etc/hosts"))
    elif options.hosts_entries:
        files.append(GeneratedFile(f"{generated}/hosts", hosts.hosts(options, hostname)))
        binds.append(mounts.etc_mount(item.rootfs, files[-1].path, "/etc/hosts"))
    return binds, files


def _working_directory(root: str, path: str, volume_targets: list[str]) -> str:
    relative = rootfs.resolve(root, path, "working directory")
    if relative and rootfs.lstat(root, "/" + relative, "working directory") is None:
        parts = relative.split("/")
        if not any(parts[: len(t.split("/"))] == t.split("/") for t in volume_targets):
            raise PlanError(f'working directory "{path}" does not exist in the image')
    return path


def plan_fly(pod: PodInput, host_name: str) -> FlyPlan:
    """The plan of a fly pod; PlanError unless it has exactly one app that can run.

    ``host_name`` is the host's hostname, which generated /etc/hosts entries name (the app
    shares the host's UTS namespace).
    """
    if len(pod.manifest.apps) != 1 or len(pod.apps) != 1:
        raise PlanError(
            f"the fly stage1 runs exactly one app per pod, this pod has {len(pod.manifest.apps)}",
            hint="run each image in a pod of its own",
        )
    item = pod.apps[0]
    name = item.runtime_app.name
    try:
        return _plan_app(item, pod, host_name)
    except PlanError as err:
        raise PlanError(f'app "{name}": {err.message}', hint=err.hint) from err


def _plan_app(item: AppInput, pod: PodInput, host_name: str) -> FlyPlan:
    options = pod.options
    root = item.rootfs
    app = item.runtime_app.app or item.image.app
    if app is None:
        raise PlanError(
            f'image "{item.image.name}" has no app', hint="give one with --exec and friends"
        )
    # Binding onto a symlink would mount wherever it points (runc CVE-2019-16884).
    mounts.check_kernel_dirs(root)
    identity = user.resolve_identity(root, app.user, app.group)
    env = environment.app_environment(
        item.runtime_app.name,
        app.environment,
        options.set_env_file,
        options.set_env,
        item.environment,
        uid=identity.uid,
        entry=identity.entry,
        metadata_url=options.metadata_url,
    )
    volume_binds, directories = _volume_mounts(item, pod)
    workdir = _working_directory(
        root, app.working_directory or "/", [m.target for m in volume_binds]
    )
    argv = executable.find_executable(root, app.exec or (), workdir, dict(env)["PATH"])
    etc_binds, files = _etc(item, pod, host_name)
    plan_mounts = [
        *(Mount("bind", f"/{d}", d, ("rbind",)) for d in HOST_DIRS),
        Mount("tmpfs", "tmpfs", "tmp", ("mode=1777",)),
        *volume_binds,
        *etc_binds,
    ]
    if item.runtime_app.read_only_root_fs:
        plan_mounts.append(Mount("remount-ro", "", ""))
    return FlyPlan(
        name=item.runtime_app.name,
        root=root,
        exec=argv,
        uid=identity.uid,
        gid=identity.gid,
        groups=(identity.gid, *app.supplementary_gids),
        working_directory=workdir,
        environment=env,
        mounts=tuple(plan_mounts),
        files=tuple(files),
        volumes=tuple(directories),
    )
