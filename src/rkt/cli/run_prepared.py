"""``rkt run-prepared UUID``: run a pod that ``rkt prepare`` left in ``prepared/``; exits with
stage1's status (the app's, or 254 for stage1's own failures)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.config import Config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add = parser.add_argument
    add("--interactive", action="store_true", help="run the pod interactively")
    add("--net", nargs="?", const="default", default="default", help="host, none or networks")
    add("--dns", action="append", default=[], help="name servers, 'host' or 'none'")
    add("--dns-search", action="append", default=[])
    add("--dns-opt", action="append", default=[])
    add("--dns-domain", default="")
    add("--hosts-entry", action="append", default=[], help="IP=HOSTNAME or 'host'")
    add("--hostname", default="", help="the pod's hostname (default rkt-$UUID)")
    add("--mds-register", action="store_true", help=argparse.SUPPRESS)
    add("--ipc", default="", help=argparse.SUPPRESS)
    add("uuid", metavar="UUID", help="the pod's UUID (or an unambiguous prefix)")


def run(args: argparse.Namespace, config: Config) -> int:
    from rkt.datadir import DataDir
    from rkt.errors import ConfigError
    from rkt.stage0.options import RunFlags, parse_hosts_entries, split_lists
    from rkt.stage0.run import run_prepared

    if args.mds_register:
        raise ConfigError("--mds-register is not supported yet")
    if args.ipc not in ("", "auto", "private"):
        raise ConfigError(
            f'--ipc="{args.ipc}" is not supported yet', hint="the pod's IPC is private"
        )
    flags = RunFlags(
        net=args.net,
        dns=split_lists(args.dns),
        dns_search=split_lists(args.dns_search),
        dns_options=split_lists(args.dns_opt),
        dns_domain=args.dns_domain,
        hosts_entries=parse_hosts_entries(args.hosts_entry),
        hostname=args.hostname,
    )
    pods = DataDir(config.data_dir).pods
    return run_prepared(
        pods,
        args.uuid,
        debug=config.debug,
        interactive=args.interactive,
        flags=flags,
        config_dirs=config.dirs,
    )
