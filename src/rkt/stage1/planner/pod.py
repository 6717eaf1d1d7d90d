"""Building a :class:`PodPlan`: the pure half of the default stage1 (docs/architecture.md,
step 5). It reads only the apps' rendered rootfs trees (lstat, readlink, capped reads of
/etc/passwd and /etc/group) and never mounts, forks or changes anything.
"""

from __future__ import annotations

import re
import stat

import msgspec

from appc.schema.app import App
from appc.schema.isolator import Isolator, by_name
from appc.schema.linux import CPU_SHARES, OOM_SCORE_ADJ, CPUShares, OOMScoreAdj
from appc.schema.resource import BLOCK_BANDWIDTH, BLOCK_IOPS, CPU, MEMORY, Resource
from rkt.pod import layout
from rkt.stage1.planner import (
    capabilities,
    environment,
    executable,
    hosts,
    isolator_report,
    mounts,
    rootfs,
    streams,
    sysctl,
    systemd_units,
    user,
)
from rkt.stage1.planner.plan import (
    CFS_PERIOD,
    MIN_CPU_QUOTA,
    AppInput,
    AppPlan,
    CgroupLimits,
    GeneratedFile,
    Mount,
    PlanError,
    PodInput,
    PodOptions,
    PodPlan,
    VolumeDirectory,
)

#: The generated /etc files live here under the pod dir, out of every app's reach.
GENERATED_DIR = layout.GENERATED_DIR
#: Non-standard isolator of this runtime: ``{"max": N}`` caps the app's processes (pids.max).
PIDS_LIMIT = "rkt.coreos.com/pids-limit"
#: Every pod's cgroup holds at most this many processes (podman's default pids limit), so
#: that one fork bomb cannot take the host's pid space (pid_max is 32768 on many hosts). A
#: pod manifest's own :data:`PIDS_LIMIT` isolator replaces it; apps whose limits add up to
#: more raise it to their sum.
DEFAULT_POD_PIDS = 2048
_HOSTNAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9-]{1,63})*")


def _generated(options: PodOptions, name: str) -> str:
    return f"{options.pod_dir.rstrip('/')}/{GENERATED_DIR}/{name}"


def _sysfs_mountable(options: PodOptions) -> bool:
    """Whether the pod may mount a sysfs of its own. In a user namespace only for a network
    namespace it owns (sysfs shows the mounter's network devices): with the host's or one
    stage0 made for CNI, the app gets the host's /sys bound read-only instead, as runc does."""
    return options.user_range is None or not (options.host_network or options.netns_joined)


def namespaces(options: PodOptions) -> tuple[str, ...]:
    # --net=host shares the host's network namespace, --ipc=parent its IPC one; everything else
    # is the pod's own. The user namespace comes first: the others, made with it, belong to it.
    names: tuple[str, ...] = (
        ("mount", "uts", "pid") if options.host_ipc else ("mount", "uts", "ipc", "pid")
    )
    if options.user_range is not None:
        names = ("user", *names)
    return names if options.host_network else (*names, "net")


def hostname(options: PodOptions) -> str:
    name = options.hostname or "rkt-" + options.pod_dir.rstrip("/").rsplit("/", 1)[-1]
    if len(name) > 64 or not _HOSTNAME.fullmatch(name):
        raise PlanError(f'hostname "{name}" is not valid', hint="use letters, digits, - and .")
    return name


def _effective_app(item: AppInput) -> App:
    # stage0 writes the whole app (image's, with --exec/--user/... applied) into the pod
    # manifest; an app without one runs its image's app unchanged (pods.md "app").
    app = item.runtime_app.app or item.image.app
    if app is None:
        raise PlanError(
            f'image "{item.image.name}" has no app', hint="give one with --exec and friends"
        )
    return app


def _working_directory(root: str, path: str, volume_targets: list[str]) -> str:
    """The working directory must exist in the assembled rootfs (aci.md "workingDirectory");
    one inside a volume is created by the mount, so only those may be missing now."""
    relative = rootfs.resolve(root, path, "working directory")
    info = rootfs.lstat(root, "/" + relative, "working directory") if relative else None
    if relative and info is None:
        parts = relative.split("/")
        if not any(parts[: len(t.split("/"))] == t.split("/") for t in volume_targets):
            raise PlanError(f'working directory "{path}" does not exist in the image')
    elif info is not None and not stat.S_ISDIR(info.st_mode):
        raise PlanError(f'working directory "{path}" is not a directory')
    return path


def _event_handlers(
    root: str, app: App, working_directory: str, path_value: str
) -> dict[str, tuple[str, ...]]:
    """Each event handler's argv, its executable found exactly as the app's exec is."""
    result: dict[str, tuple[str, ...]] = {}
    for handler in app.event_handlers:
        if not handler.exec or not handler.exec[0]:
            raise PlanError(
                f'the "{handler.name}" event handler has no exec',
                hint="give the handler an exec in the image manifest",
            )
        try:
            result[handler.name] = executable.find_executable(
                root, handler.exec, working_directory, path_value
            )
        except PlanError as err:
            raise PlanError(
                f'"{handler.name}" event handler: {err.message}', hint=err.hint
            ) from err
    return result


def _resource_limit(isolators: tuple[Isolator, ...], name: str) -> Resource | None:
    isolator = by_name(isolators, name)
    value = isolator.value if isolator is not None else None
    return value if isinstance(value, Resource) and value.limit is not None else None


def _positive(resource: Resource | None, name: str) -> int | None:
    if resource is None or resource.limit is None:
        return None
    value = resource.limit.value()
    if value < 1:
        raise PlanError(f"{name} needs a positive limit, got {resource.limit}")
    return value


def limits(isolators: tuple[Isolator, ...]) -> CgroupLimits:
    """The cgroup limits of an app: resource/memory's limit in bytes, resource/cpu's limit in
    millicores as a CFS quota, os/linux/cpu-shares, :data:`PIDS_LIMIT`'s max, and the block
    isolators' limits for every block device (bytes or operations per second, read and write
    each). Requests are not enforced (rkt 1.30 did not either)."""
    memory = _resource_limit(isolators, MEMORY)
    cpu = _resource_limit(isolators, CPU)
    shares = by_name(isolators, CPU_SHARES)
    pids = by_name(isolators, PIDS_LIMIT)
    result = CgroupLimits(
        memory=memory.limit.value() if memory is not None and memory.limit is not None else None,
        cpu_quota=(
            max(MIN_CPU_QUOTA, cpu.limit.milli_value() * CFS_PERIOD // 1000)
            if cpu is not None and cpu.limit is not None
            else None
        ),
        cpu_shares=shares.value.shares if shares and isinstance(shares.value, CPUShares) else None,
    )
    if pids is not None:
        raw = pids.raw.get("max") if isinstance(pids.raw, dict) else None
        if not isinstance(raw, int) or isinstance(raw, bool) or raw < 1:
            raise PlanError(f"{PIDS_LIMIT} needs a positive integer max", hint='e.g. {"max": 512}')
        result = msgspec.structs.replace(result, pids=raw)
    bandwidth = _resource_limit(isolators, BLOCK_BANDWIDTH)
    iops = _resource_limit(isolators, BLOCK_IOPS)
    result = msgspec.structs.replace(
        result,
        block_bps=_positive(bandwidth, BLOCK_BANDWIDTH),
        block_iops=_positive(iops, BLOCK_IOPS),
    )
    if result.memory is not None and result.memory < 1 << 20:
        raise PlanError(f"memory limit {result.memory} is below 1Mi", hint="raise the limit")
    if result.cpu_shares is not None and not 2 <= result.cpu_shares <= 262144:
        raise PlanError(f"cpu shares {result.cpu_shares} not in 2..262144")
    return result


def oom_score_adj(isolators: tuple[Isolator, ...]) -> int | None:
    isolator = by_name(isolators, OOM_SCORE_ADJ)
    if isolator is None or not isinstance(isolator.value, OOMScoreAdj):
        return None
    score = isolator.value.score
    if not -1000 <= score <= 1000:
        raise PlanError(f"oom score adjustment {score} not in -1000..1000")
    return score


def _etc_mounts(item: AppInput, options: PodOptions) -> list[Mount]:
    root = item.rootfs
    result = []
    mode = hosts.resolv_conf_mode(options)
    if mode == hosts.HOST:
        result.append(mounts.etc_mount(root, options.host_resolv_conf, "/etc/resolv.conf"))
    elif mode == "generated":
        result.append(
            mounts.etc_mount(root, _generated(options, "resolv.conf"), "/etc/resolv.conf")
        )
    if hosts.hosts_from_host(options):
        result.append(mounts.etc_mount(root, options.host_hosts, "/etc/hosts"))
    elif options.hosts_entries or rootfs.lstat(root, "/etc/hosts", "/etc/hosts") is None:
        result.append(mounts.etc_mount(root, _generated(options, "hosts"), "/etc/hosts"))
    return result


def plan_app(item: AppInput, pod: PodInput) -> tuple[AppPlan, list[VolumeDirectory]]:
    options = pod.options
    name = item.runtime_app.name
    root = item.rootfs
    app = _effective_app(item)
    mounts.check_kernel_dirs(root)
    identity = user.resolve_identity(root, app.user, app.group)
    env = environment.app_environment(
        name,
        app.environment,
        options.set_env_file,
        options.set_env,
        item.environment,
        uid=identity.uid,
        entry=identity.entry,
        metadata_url=options.metadata_url,
    )
    matched = mounts.match_volumes(name, item.runtime_app, app.mount_points, pod.manifest.volumes)
    volume_mounts = mounts.volume_mounts(root, options.pod_dir, matched)
    workdir = _working_directory(
        root, app.working_directory or "/", [m.target for m in volume_mounts]
    )
    path_value = dict(env)["PATH"]
    argv = executable.find_executable(root, app.exec or (), workdir, path_value)
    handlers = _event_handlers(root, app, workdir, path_value)
    caps = (
        capabilities.unrestricted(capabilities.runtime_bounding(), identity.uid)
        if options.insecure_capabilities
        else capabilities.capabilities(app.isolators, identity.uid)
    )
    filter_ = capabilities.seccomp(
        app.isolators, disabled=options.insecure_seccomp, bounding=caps.bounding
    )
    notify = systemd_units.supports_notify(item.image)
    if notify:
        env = (*env, *systemd_units.notify_environment())
    plan_mounts = [
        *mounts.base_mounts(root, options.interactive, sysfs=_sysfs_mountable(options)),
        *volume_mounts,
        *_etc_mounts(item, options),
        *([systemd_units.notify_mount(options.pod_dir, name)] if notify else []),
        *mounts.protection_mounts(options.insecure_paths),
    ]
    if item.runtime_app.read_only_root_fs:
        plan_mounts.append(Mount("remount-ro", "", ""))
    # The host owns an empty volume's directory: its owner is the pod's ids' host ids.
    shift = options.user_range[0] if options.user_range else 0
    if options.user_range is not None:
        for m in matched:
            ids = (m.volume.uid or 0, m.volume.gid or 0)
            if m.volume.kind == "empty" and max(ids) >= options.user_range[1]:
                raise PlanError(
                    f'volume "{m.volume.name}": uid/gid {ids[0]}:{ids[1]} is not one of the '
                    f"pod's {options.user_range[1]} ids (--private-users)"
                )
    directories = [
        VolumeDirectory(
            mounts.empty_volume_dir(options.pod_dir, m.volume.name),
            int(m.volume.mode or "0755", 8),
            shift + (m.volume.uid or 0),
            shift + (m.volume.gid or 0),
        )
        for m in matched
        if m.volume.kind == "empty"
    ]
    plan = AppPlan(
        name=name,
        image_name=item.image.name,
        root=root,
        exec=argv,
        uid=identity.uid,
        gid=identity.gid,
        supplementary_gids=app.supplementary_gids,
        working_directory=workdir,
        environment=env,
        capabilities=caps,
        no_new_privs=capabilities.no_new_privs(app.isolators, identity.uid, filter_),
        seccomp=filter_,
        read_only_rootfs=item.runtime_app.read_only_root_fs,
        mounts=tuple(plan_mounts),
        pre_start=handlers.get("pre-start", ()),
        post_stop=handlers.get("post-stop", ()),
        limits=limits(app.isolators),
        oom_score_adj=oom_score_adj(app.isolators),
        isolators=isolator_report.report(app.isolators, pod.manifest.isolators, options),
        **streams.modes(item.runtime_app.annotations),
        notify=notify,
        listen_fds=systemd_units.listen_fds(app, options),
        journal=options.journal and not options.interactive,
    )
    return plan, directories


def _pod_pids(isolators: tuple[Isolator, ...], apps: list[AppPlan]) -> int:
    """The pod's pids.max: its manifest's :data:`PIDS_LIMIT`, else :data:`DEFAULT_POD_PIDS` or,
    if more, what the apps' own limits add up to."""
    own = by_name(isolators, PIDS_LIMIT)
    if own is not None:
        pids = limits((own,)).pids
        if pids is not None:
            return pids
    return max(DEFAULT_POD_PIDS, sum(app.limits.pids or 0 for app in apps))


def plan_pod(pod: PodInput) -> PodPlan:
    """The whole pod's plan; a PlanError names the app it is about."""
    options = pod.options
    name = hostname(options)
    names = [a.name for a in pod.manifest.apps]
    given = [a.runtime_app.name for a in pod.apps]
    if sorted(names) != sorted(given):
        raise PlanError(f"apps given ({', '.join(given)}) differ from the pod manifest's")
    apps = []
    directories: dict[str, VolumeDirectory] = {}
    for item in pod.apps:
        try:
            plan, dirs = plan_app(item, pod)
        except PlanError as err:
            raise PlanError(f'app "{item.runtime_app.name}": {err.message}', hint=err.hint) from err
        apps.append(plan)
        for directory in dirs:
            directories.setdefault(directory.path, directory)
    spaces = namespaces(options)
    sysctls = sysctl.pod_sysctls(
        [
            ("pod manifest", pod.manifest.isolators),
            *(
                (f'app "{item.runtime_app.name}"', _effective_app(item).isolators)
                for item in pod.apps
            ),
        ],
        spaces,
    )
    files = []
    resolv = hosts.resolv_conf(options)
    if resolv is not None:
        files.append(GeneratedFile(_generated(options, "resolv.conf"), resolv))
    hosts_path = _generated(options, "hosts")
    # Only written when some app binds it (entries given, or an image without /etc/hosts).
    hosts_text = None
    if any(m.source == hosts_path for a in apps for m in a.mounts):
        hosts_text = hosts.hosts(options, name)
        files.append(GeneratedFile(hosts_path, hosts_text))
    return PodPlan(
        namespaces=spaces,
        hostname=name,
        hosts=hosts_text,
        resolv_conf=resolv,
        files=tuple(files),
        volumes=tuple(directories.values()),
        apps=tuple(apps),
        limits=CgroupLimits(pids=_pod_pids(pod.manifest.isolators, apps)),
        sysctls=sysctls,
        user_range=options.user_range,
    )
