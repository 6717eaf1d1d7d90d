"""``rkt prepare [flags] IMAGE [per-app flags] [-- args ---]...``: fetch the images (pull policy
``new``), prepare a pod and print its UUID.

Flags before the first image are read by argparse; from the first image on, the words are read
as rkt's parseApps does (:mod:`rkt.stage0.apps`), and pod-level flags found there are given back
to a parser of this verb's flags. ``--stage1-*`` flags are accepted and ignored: the only stage1
is the built-in Python one. ``--quiet`` is accepted for rkt compatibility; the UUID is the only
thing prepare prints on stdout either way (messages go to stderr).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from rkt.config import Config
    from rkt.stage0.apps import AppList
    from rkt.stage0.prepare import PrepareConfig

STAGE1_FLAGS = ("--stage1-url", "--stage1-path", "--stage1-name", "--stage1-hash")


def add_pod_flags(parser: argparse.ArgumentParser, *, run: bool) -> dict[str, bool]:
    """Add the pod-level flags; returns each flag → whether it takes a value."""
    flags: dict[str, bool] = {}

    def add(name: str, **kwargs: object) -> None:
        action = parser.add_argument(name, **kwargs)  # type: ignore[arg-type]
        flags[name] = action.nargs != 0

    add("--pull-policy", default="new", choices=("never", "new", "update"))
    add("--store-only", action="store_true", help=argparse.SUPPRESS)
    add("--no-store", action="store_true", help=argparse.SUPPRESS)
    add("--no-overlay", action="store_true", help="disable overlay filesystem")
    add("--private-users", action="store_true", help="run within user namespaces (unsupported)")
    add("--inherit-env", action="store_true", help="inherit all environment variables")
    add("--set-env", action="append", default=[], metavar="K=V", help="for all apps")
    add("--set-env-file", metavar="FILE", help="a file of K=V lines for all apps")
    add("--volume", action="append", default=[], help="volumes to make available in the pod")
    add("--mount", action="append", default=[], help="volume=NAME,target=PATH for all apps")
    add("--port", action="append", default=[], help="NAME:[HOSTIP:]HOSTPORT: forward a port")
    add("--pod-manifest", default="", help="the path to a pod manifest (unsupported yet)")
    add("--signature", metavar="FILE", help="signature of the single image")
    add("--user-annotation", action="append", default=[], help=argparse.SUPPRESS)
    add("--user-label", action="append", default=[], help=argparse.SUPPRESS)
    for name in STAGE1_FLAGS:
        add(name, default="", help="ignored: the built-in stage1 is always used")
    add("--stage1-from-dir", default="", help="ignored: the built-in stage1 is always used")
    if run:
        add("--net", nargs="?", const="default", default="default", help="host, none or networks")
        add("--interactive", action="store_true", help="run the pod interactively")
        add("--dns", action="append", default=[], help="name servers, 'host' or 'none'")
        add("--dns-search", action="append", default=[])
        add("--dns-opt", action="append", default=[])
        add("--dns-domain", default="")
        add("--hosts-entry", action="append", default=[], help="IP=HOSTNAME or 'host'")
        add("--hostname", default="", help="the pod's hostname (default rkt-$UUID)")
        add("--uuid-file-save", default="", help="write out the pod UUID to this file")
        add("--mds-register", action="store_true", help=argparse.SUPPRESS)
        add("--ipc", default="", help=argparse.SUPPRESS)
    else:
        add("--quiet", action="store_true", help="print only the UUID on success")
    return flags


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pod_flags(parser, run=False)
    parser.add_argument("images", nargs=argparse.REMAINDER, metavar="IMAGE [flags] [-- args ---]")


def parse_command(args: argparse.Namespace, *, run: bool) -> AppList:
    """Read the images and their flags; pod flags among them update ``args`` in place."""
    from rkt.stage0.apps import parse_apps

    scratch = argparse.ArgumentParser(prog="rkt", add_help=False, allow_abbrev=False)
    flags = add_pod_flags(scratch, run=run)
    apps = parse_apps(list(args.images), flags)
    if apps.pod_words:
        # Defaults are only set for attributes the namespace lacks, and "append" actions
        # extend what is there, so this adds to what came before the images.
        scratch.parse_args(apps.pod_words, namespace=args)
    if args.signature is not None:
        if len(apps.apps) != 1 or apps.apps[0].signature is not None:
            raise ConfigError("--signature must follow the image it signs")
        apps.apps[0].signature = args.signature
    if not apps.apps:
        raise ConfigError("must provide at least one image")
    if args.private_users:
        raise ConfigError("--private-users is not supported yet")
    if args.pod_manifest:
        raise ConfigError("--pod-manifest is not supported yet")
    if args.port and not run:
        raise ConfigError(
            "--port is not supported by rkt prepare", hint="use rkt run --net=... --port=..."
        )
    if args.user_annotation or args.user_label:
        raise ConfigError("pod-level --user-annotation/--user-label are not supported yet")
    if any(getattr(args, n[2:].replace("-", "_")) for n in (*STAGE1_FLAGS, "--stage1-from-dir")):
        sys.stderr.write("stage1 flags ignored: the built-in Python stage1 is always used\n")
    return apps


def pull_policy(args: argparse.Namespace) -> str:
    if args.store_only and args.no_store:
        raise ConfigError("both --store-only and --no-store specified")
    if args.store_only:
        return "never"
    if args.no_store:
        return "update"
    policy: str = args.pull_policy
    return policy


def prepare_config(
    args: argparse.Namespace, config: Config, apps: AppList, *, run: bool
) -> tuple[str, PrepareConfig]:
    """Fetch the images, then prepare the pod; returns its UUID and the stage0 config."""
    from pathlib import Path

    from appc.errors import ValidationError
    from appc.schema.volume import Volume
    from rkt.datadir import DataDir
    from rkt.fetch import Fetcher
    from rkt.insecure import Insecure
    from rkt.stage0.apps import parse_mount
    from rkt.stage0.manifest import ResolvedApp
    from rkt.stage0.options import (
        StageOptions,
        parse_env_pairs,
        parse_hosts_entries,
        parse_ports,
        read_env_file,
        split_lists,
    )
    from rkt.stage0.prepare import PrepareConfig, overlay_supported, prepare
    from rkt.store import Store
    from rkt.trust import Keystore

    try:
        volumes = tuple(Volume.from_string(v) for v in args.volume)
    except ValidationError as err:
        raise ConfigError(f"invalid --volume: {err}") from err
    pod_mounts = tuple(parse_mount(m) for m in args.mount)
    from rkt.net.pod import select

    net = args.net if run else "none"
    ports = parse_ports(args.port)
    _, networks = select(config.dirs, net)  # before any pod exists: a bad --net creates none
    options = StageOptions(
        hostname=args.hostname if run else "",
        interactive=args.interactive if run else False,
        set_env_file=read_env_file(args.set_env_file) if args.set_env_file else (),
        set_env=parse_env_pairs("--set-env", args.set_env),
        dns=split_lists(args.dns) if run else (),
        dns_search=split_lists(args.dns_search) if run else (),
        dns_options=split_lists(args.dns_opt) if run else (),
        dns_domain=args.dns_domain if run else "",
        hosts_entries=parse_hosts_entries(args.hosts_entry) if run else (),
        net=net,
        insecure_paths=bool(config.insecure & Insecure.PATHS),
        insecure_seccomp=bool(config.insecure & Insecure.SECCOMP),
        insecure_capabilities=bool(config.insecure & Insecure.CAPABILITIES),
    )
    use_overlay = not args.no_overlay
    if use_overlay and not overlay_supported():
        sys.stderr.write("disabling overlay support: the kernel has no overlay filesystem\n")
        use_overlay = False
    datadir = DataDir(config.data_dir)
    policy = pull_policy(args)
    with Store(datadir) as store:
        fetcher = Fetcher(config, store, Keystore(config.dirs), stderr=sys.stderr)
        resolved: list[ResolvedApp] = []
        for app in apps.apps:
            signature = Path(app.signature) if app.signature else None
            image_id = fetcher.fetch(app.image, pull_policy=policy, signature=signature)
            _, manifest = store.manifest(image_id)
            resolved.append(ResolvedApp(args=app, image_id=image_id, image=manifest))
        stage0 = PrepareConfig(
            apps=tuple(resolved),
            volumes=volumes,
            pod_mounts=pod_mounts,
            options=options,
            use_overlay=use_overlay,
            inherit_env=args.inherit_env,
            networks=networks,
            ports=ports,
        )
        uuid = prepare(store, datadir.pods, stage0)
    return uuid, stage0


def run(args: argparse.Namespace, config: Config) -> int:
    apps = parse_command(args, run=False)
    uuid, _ = prepare_config(args, config, apps, run=False)
    sys.stdout.write(uuid + "\n")
    return 0
