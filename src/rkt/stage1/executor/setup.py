"""What the Python side of the executor performs before the pod's compiled PID 1 takes over:
each app's mounts as ``rkt.linux`` operations, the pod's sysctls, generated files and empty
volumes, and the seccomp filters built for rkt-stage1 to load.

Mounts are applied by the pod's PID 1 (still Python, rkt.stage1.executor.launcher) in the pod's
mount namespace, with every target resolved inside the app's root (``rkt.linux.lookup``;
docs/security.md 7). Each app's process then gets a mount namespace of its own and pivots into its
root (native/app.c), rather than chroot'ing: the default capability set keeps CAP_SYS_CHROOT,
with which a chroot'ed root app walks out of its chroot.

``--interactive`` (a single app): the plan's "console" bind puts the pod's pty (made by the
launcher, relayed by the monitor) on the app's /dev/console; the app takes it as its
controlling terminal and as 0-2.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable

import msgspec

from rkt.atomicfile import write_atomically
from rkt.errors import Stage1Error
from rkt.linux import seccomp as linux_seccomp
from rkt.linux.kernel import Kernel
from rkt.linux.mount import (
    MS_NODEV,
    MS_NOEXEC,
    MS_NOSUID,
    MS_STRICTATIME,
    Bind,
    Devpts,
    MaskPath,
    Mqueue,
    Operation,
    Proc,
    ReadOnlyPath,
    Sysfs,
    Tmpfs,
)
from rkt.stage1.planner import seccomp_groups, sysctl
from rkt.stage1.planner.plan import AppPlan, GeneratedFile, Mount, VolumeDirectory

#: The mount options that are flags, not filesystem data.
_FLAG_OPTIONS = {
    "nosuid": MS_NOSUID,
    "nodev": MS_NODEV,
    "noexec": MS_NOEXEC,
    "strictatime": MS_STRICTATIME,
}


class ExecutorError(Stage1Error):
    """A plan step that cannot be performed (an unsupported mount kind, a bad option)."""


def _split(options: tuple[str, ...]) -> tuple[int, dict[str, str], list[str]]:
    flags = 0
    values: dict[str, str] = {}
    rest: list[str] = []
    for option in options:
        if option in _FLAG_OPTIONS:
            flags |= _FLAG_OPTIONS[option]
        elif "=" in option:
            key, _, value = option.partition("=")
            values[key] = value
        else:
            rest.append(option)
    return flags, values, rest


def operations(mount: Mount, console: str | None = None) -> list[Operation]:
    """The ``rkt.linux`` operations for one plan mount (``symlink`` is not one: see apply).
    ``console``: the pty the pod's terminal is (``--interactive``), bound on /dev/console."""
    flags, values, rest = _split(mount.options)
    kind = mount.kind
    if kind == "bind":
        source = mount.source
        if "console" in rest:
            if console is None:
                raise ExecutorError("--interactive needs a terminal for the pod")
            source = console
        is_file = os.path.exists(source) and not os.path.isdir(source)
        return [
            Bind(
                source,
                mount.target,
                read_only=mount.read_only,
                recursive="rbind" in rest,
                kind="file" if is_file else "dir",
                nodev=bool(flags & MS_NODEV),
            )
        ]
    if kind == "tmpfs":
        mode = int(values.get("mode", "755"), 8)
        return [Tmpfs(mount.target, mode=mode, size=values.get("size"), flags=flags)]
    if kind == "proc":
        return [Proc(mount.target)]
    if kind == "sysfs":
        return [Sysfs(mount.target)]
    if kind == "devpts":
        data = ",".join([*rest, *(f"{k}={v}" for k, v in values.items())])
        return [Devpts(mount.target, data=data)]
    if kind == "mqueue":
        return [Mqueue(mount.target)]
    if kind == "remount-ro":
        return [ReadOnlyPath(mount.target)]
    if kind == "mask":
        return [MaskPath(mount.target)]
    raise ExecutorError(
        f"mount kind {kind!r} is not supported by this executor: {mount.describe()}"
    )


def _symlink(root: str, mount: Mount, kernel: Kernel) -> None:
    """Create the link ``target`` (text ``source``) inside ``root``; its parent is resolved in
    the root, and an existing entry is left alone (a fresh /dev tmpfs has none)."""
    parent, _, name = mount.target.rpartition("/")
    opened = kernel.open_in_root(root, parent, kind="dir", create=True, reject_symlink=False)
    try:
        kernel.symlink(mount.source, name, opened.fd)
    except FileExistsError:
        pass
    finally:
        kernel.close(opened.fd)


def _done_before(mount: Mount) -> bool:
    """Whether :func:`prepare_mounts` performs ``mount``. Not the bind of the root onto itself:
    a mount made outside the user namespace is locked inside it, and pivot_root(2) refuses a
    locked new root; made in the namespace (with the prepared mounts under it) it is not."""
    return mount.kind in ("tmpfs", "symlink") or (mount.kind == "bind" and mount.target != "")


def prepare_mounts(app: AppPlan, kernel: Kernel, owner: int) -> None:
    """``--private-users``, before the user namespace exists: mount the app's tmpfs (/dev,
    /dev/shm, /tmp; their roots owned by ``owner``, the host id of the pod's root), make its
    symlinks, bind what it binds and make every other mount's target, so that
    :func:`apply_mounts` creates nothing and only mounts the kernel filesystems of the pod's
    namespaces (proc, sysfs, devpts, mqueue) and the masks and read-only remounts over them.

    A filesystem mounted inside a user namespace takes no new file from an id the namespace
    does not map (EOVERFLOW), and PID 1 keeps the host's root, which it does not map, for the
    pod directory's sake. Made out here, these tmpfs belong to the host's namespace; what the
    apps create in them is owned by their host ids, as on any other host filesystem. Binds are
    made here too because inside the user namespace a bind of a mount with submounts must take
    them all (the host's /sys, a host volume)."""
    for mount in app.mounts:
        if mount.kind == "symlink":
            _symlink(app.root, mount, kernel)
        elif _done_before(mount):
            for operation in operations(mount):
                if isinstance(operation, Tmpfs):
                    operation = msgspec.structs.replace(operation, owner=owner)
                operation.apply(kernel, app.root)
        elif mount.kind not in ("mask", "remount-ro"):
            for operation in operations(mount):
                kind = operation.kind if isinstance(operation, Bind) else "dir"
                opened = kernel.open_in_root(
                    app.root, mount.target, kind=kind, create=True, reject_symlink=False
                )
                kernel.close(opened.fd)


def apply_mounts(
    app: AppPlan, kernel: Kernel, *, prepared: bool = False, console: str | None = None
) -> None:
    """Perform the app's mounts in order, inside its root; ``prepared``: but for what
    :func:`prepare_mounts` did. ``console``: see :func:`operations`."""
    for mount in app.mounts:
        if prepared and _done_before(mount):
            continue
        if mount.kind == "symlink":
            _symlink(app.root, mount, kernel)
            continue
        for operation in operations(mount, console):
            operation.apply(kernel, app.root)


def apply_sysctls(sysctls: tuple[tuple[str, str], ...], proc_sys: str = "/proc/sys") -> None:
    """Write the pod's sysctls (checked as namespaced by the plan). Called in PID 1, which is in
    the pod's namespaces: /proc/sys resolves net, ipc and uts entries by the writing task's
    namespaces, so the writes change the pod's, never the host's."""
    for key, value in sysctls:
        path = os.path.join(proc_sys, sysctl.proc_path(key))
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC | os.O_NOFOLLOW)
            try:
                os.write(fd, value.encode())
            finally:
                os.close(fd)
        except OSError as err:
            raise ExecutorError(f'sysctl "{key}": cannot set "{value}": {err.strerror}') from err


def prepare_pod_files(files: Iterable[GeneratedFile], volumes: Iterable[VolumeDirectory]) -> None:
    """Generated /etc files and empty-volume directories, before any mount binds them (the
    default flavor's plan and fly's both have them)."""
    for generated in files:
        os.makedirs(os.path.dirname(generated.path), mode=0o755, exist_ok=True)
        write_atomically(generated.path, generated.content.encode(), generated.mode, durable=False)
    for volume in volumes:
        os.makedirs(os.path.dirname(volume.path), mode=0o755, exist_ok=True)
        # One kept from an earlier run of the same pod is reused (rkt keeps empty volumes).
        with contextlib.suppress(FileExistsError):
            os.mkdir(volume.path, volume.mode)
        os.chown(volume.path, volume.uid, volume.gid, follow_symlinks=False)
        os.chmod(volume.path, volume.mode, follow_symlinks=False)


def build_filter(resolved: seccomp_groups.Filter | None) -> linux_seccomp.Stack | None:
    """The libseccomp filters of a resolved one, built but not loaded: the hardening filter
    (loaded first, while the app's own still lets ``seccomp`` through), then the app's; None
    for none (rkt.stage1.planner.seccomp_groups)."""
    if resolved is None:
        return None
    Action = linux_seccomp.Action
    Condition = linux_seccomp.Condition
    hardening = linux_seccomp.build(
        Action.allow(),
        (
            (name, Action.fail(seccomp_groups.errno_number(errno)),
             tuple(Condition(*c) for c in conditions))
            for name, errno, conditions in resolved.hardening()
        ),
    )  # fmt: skip
    blocked = Action.fail(resolved.errno_number) if resolved.errno else Action.kill()
    if resolved.mode == "retain":
        own = linux_seccomp.build(blocked, ((name, Action.allow()) for name in resolved.syscalls))
    else:
        own = linux_seccomp.build(Action.allow(), ((name, blocked) for name in resolved.syscalls))
    return linux_seccomp.Stack((hardening, own))
