"""``rkt run-prepared UUID``: run a pod that ``rkt prepare`` left in ``prepared/``; exits with
stage1's status (the app's, or 254 for stage1's own failures)."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.stage0.primer import MovePrimer

USE = "run-prepared UUID"
DESCRIPTION = """\
Runs a pod rkt prepare prepared, named by its UUID (or an unambiguous prefix); the pod gets its
network, DNS and hostname now."""


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.prepare import add_run_time_flags

    add_run_time_flags(flags)
    flags.arg("uuid", "UUID", complete="pods:prepared")


def run(args: Namespace, config: Config) -> int:
    from rkt.stage0 import primer as cgroup_primer

    primer = cgroup_primer.start()  # see rkt.cli.run
    try:
        return _run(args, config, primer)
    finally:
        primer.reap()


def _run(args: Namespace, config: Config, primer: MovePrimer) -> int:
    from rkt.cli.prepare import check_run_time_flags, host_ipc
    from rkt.stage0.options import RunFlags, parse_hosts_entries, split_lists
    from rkt.stage0.run import run_prepared

    check_run_time_flags(args)
    mds_socket = ""
    if args.mds_register:  # else a pod prepared with it finds the socket itself
        from rkt.metadata.client import socket_path

        mds_socket = socket_path()
    flags = RunFlags(
        net=args.net,
        dns=split_lists(args.dns),
        dns_search=split_lists(args.dns_search),
        dns_options=split_lists(args.dns_opt),
        dns_domain=args.dns_domain,
        hosts_entries=parse_hosts_entries(args.hosts_entry),
        hostname=args.hostname,
        mds_register=args.mds_register,
        host_ipc=host_ipc(args.ipc),
    )
    pods = config.pods
    primer.reap()  # the shell only, its job goes on: no zombie child while the pod runs
    code = run_prepared(
        pods,
        args.uuid,
        debug=config.debug,
        interactive=args.interactive,
        flags=flags,
        config_dirs=config.dirs,
        mds_socket=mds_socket,
        become_monitor=config.own_process,
        detach=args.detach,
        log_max=_log_max(args.log_max_size),
        warn=_warn,
    )
    if args.detach and code == 0:
        sys.stdout.write(args.uuid + "\n")
    return code


def _warn(message: str) -> None:
    sys.stderr.write(f"run-prepared: warning: {message}\n")


def _log_max(value: int | str) -> int:
    """``--log-max-size`` in bytes (its default is text)."""
    from rkt.cli.prepare import _log_size

    return value if isinstance(value, int) else _log_size(value)
