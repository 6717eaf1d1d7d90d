"""``rkt run [flags] IMAGE [per-app flags] [-- args ---]...``: fetch (pull policy ``new``),
prepare and run a pod in one go, exiting with stage1's status (254 for rkt's own failures).

The flags are ``rkt prepare``'s plus the run-time ones (``--net``, ``--dns*``,
``--hosts-entry``, ``--hostname``, ``--interactive``, ``--uuid-file-save``); see
:mod:`rkt.cli.prepare` for how images and their flags are read.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.pod.pod import Pod
    from rkt.stage0.primer import MovePrimer

USE = (
    "run [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] "
    "IMAGE [-- image-args...[---]]..."
)
DESCRIPTION = """\
IMAGE is an image ID, a file, a URL or an image name, tried in that order.

--volume makes a volume available to the pod, --mount binds it into the apps: before the first
image into every app, after an image into that image's app (which wins over a pod-wide mount of
the same path). The other flags after an image (--exec, --user, --memory, ...) are that
image's too.

"--" gives the rest of the words to the preceding image's app as arguments, up to a lone "---"
after which flags and images are read again."""


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.prepare import add_pod_flags

    add_pod_flags(flags, run=True)


def run(args: Namespace, config: Config) -> int:
    from rkt.stage0 import primer as cgroup_primer

    # stage1 moves into the pod's cgroup in some 15 ms; the kernel's wait for that starts now.
    primer = cgroup_primer.start()
    try:
        return _prepare_and_run(args, config, primer)
    finally:
        primer.reap()


def _prepare_and_run(args: Namespace, config: Config, primer: MovePrimer) -> int:
    from rkt.cli.prepare import (
        check_run_time_flags,
        config_with_late_flags,
        parse_command,
        pod_request,
    )
    from rkt.stage0.request import prepare
    from rkt.stage0.run import run_prepared

    apps = parse_command(args, run=True)
    config = config_with_late_flags(args, config, apps)
    # A pod manifest's apps are counted once it is read (rkt.stage0.pod_manifest.prepare).
    if args.interactive and len(apps.apps) != 1 and not args.pod_manifest:
        raise ConfigError("--interactive can only be used with a single image")
    check_run_time_flags(args)
    mds_socket = ""
    if args.mds_register:
        from rkt.metadata.client import check_available, socket_path

        mds_socket = socket_path()
        check_available(mds_socket)  # rkt's CheckMdsAvailability: before any pod exists
    held: list[Pod] = []  # the pod stays locked from prepare to run (rkt.stage0.prepare)
    try:
        uuid = prepare(config, pod_request(args, config, apps, run=True), held=held)
        if args.uuid_file_save:
            _save_uuid(args.uuid_file_save, uuid)
        pods = config.pods
        primer.reap()  # long done: no zombie child while the pod runs
        code = run_prepared(
            pods,
            uuid,
            debug=config.debug,
            interactive=args.interactive,
            mds_socket=mds_socket,
            become_monitor=config.own_process,
            detach=args.detach,
            log_max=_log_max(args.log_max_size),
            pod=held[0] if held else None,
        )
        if args.detach and code == 0:
            sys.stdout.write(uuid + "\n")  # as podman run -d; rkt stop, status, logs take it
        return code
    finally:
        for pod in held:
            pod.close()


def _save_uuid(path: str, uuid: str) -> None:
    """Write the UUID through a temporary name so that readers never see half of it."""
    from rkt.atomicfile import write_atomically

    try:
        write_atomically(path, uuid.encode("ascii"), durable=False)
    except OSError as err:
        raise ConfigError(f"cannot save the UUID to {path}: {err.strerror}") from err


def _log_max(value: int | str) -> int:
    """``--log-max-size`` in bytes (its default is text)."""
    from rkt.cli.prepare import _log_size

    return value if isinstance(value, int) else _log_size(value)
