"""``rkt prepare [flags] IMAGE [per-app flags] [-- args ---]...``: fetch the images (pull policy
``new``), prepare a pod and print its UUID.

Flags before the first image are read by argparse; from the first image on, the words are read
as rkt's parseApps does (:mod:`rkt.stage0.apps`), and pod-level flags found there are given back
to a parser of this verb's flags. ``--stage1-*`` flags pick the stage1 flavor (see
:func:`stage1_flavor`): the built-in Python one, or fly. ``--quiet`` is accepted for rkt
compatibility; the UUID is the only thing prepare prints on stdout either way (messages go to
stderr).

With ``--pod-manifest=FILE`` there are no images: the manifest describes the whole pod
(:mod:`rkt.stage0.pod_manifest`), and the flags that would change it are refused.
"""

from __future__ import annotations

import argparse
import functools
import sys
from typing import TYPE_CHECKING

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rkt.config import Config
    from rkt.net.selection import Selected
    from rkt.stage0.apps import AppList
    from rkt.stage0.options import StageOptions
    from rkt.stage0.prepare import PrepareConfig

STAGE1_FLAGS = ("--stage1-url", "--stage1-path", "--stage1-name", "--stage1-hash")
#: rkt's name of the fly stage1 image, and its file name, which is what --stage1-path, -url and
#: -from-dir name it by (CoreOS's kubelet-wrapper ran ``--stage1-from-dir=stage1-fly.aci``).
FLY_NAME = "coreos.com/rkt/stage1-fly"
FLY_FILE = "stage1-fly.aci"
MDS_HELP = (
    "register the pod with the metadata service (rkt metadata-service); needs a network the "
    "host can reach (--net=default, a CNI network or host)"
)
POD_MANIFEST_HELP = (
    "the path to a pod manifest to run instead of images; of the pod flags only --net, "
    "--no-overlay, --interactive, --dns*, --hosts-entry, --hostname, --uuid-file-save and "
    "--quiet then take effect, and the others are refused"
)
#: rkt 1.30 refused these together with --pod-manifest ("conflicting flags"): the manifest
#: alone says which volumes, mounts, ports and environment the pod has, and nothing is fetched.
POD_MANIFEST_CONFLICTS = (
    "--volume", "--mount", "--port", "--inherit-env", "--set-env", "--set-env-file",
    "--store-only", "--no-store",
)  # fmt: skip


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
    add("--private-users", action="store_true", help="run within a user namespace of its own")
    add("--inherit-env", action="store_true", help="inherit all environment variables")
    add("--set-env", action="append", default=[], metavar="K=V", help="for all apps")
    add("--set-env-file", metavar="FILE", help="a file of K=V lines for all apps")
    add("--volume", action="append", default=[], help="volumes to make available in the pod")
    add("--mount", action="append", default=[], help="volume=NAME,target=PATH for all apps")
    add("--port", action="append", default=[], help="NAME:[HOSTIP:]HOSTPORT: forward a port")
    add("--pod-manifest", default="", help=POD_MANIFEST_HELP)
    add("--signature", metavar="FILE", help="signature of the single image")
    add("--user-annotation", action="append", default=[], help=argparse.SUPPRESS)
    add("--user-label", action="append", default=[], help=argparse.SUPPRESS)
    for name in (*STAGE1_FLAGS, "--stage1-from-dir"):
        add(name, default="", help=f"the stage1: {FLY_NAME} or {FLY_FILE} picks fly")
    if run:
        add_run_time_flags(add)
        add("--uuid-file-save", default="", help="write out the pod UUID to this file")
    else:
        add("--quiet", action="store_true", help="print only the UUID on success")
        add("--mds-register", action="store_true", help=MDS_HELP + " when it runs")
    return flags


def add_run_time_flags(add: Callable[..., object]) -> None:
    """The flags of ``rkt run`` that ``rkt run-prepared`` takes too (rkt 1.30): what the pod
    gets when it runs rather than when it is prepared."""
    add("--net", nargs="?", const="default", default="default", help="host, none or networks")
    add("--interactive", action="store_true", help="run the pod interactively")
    add("--dns", action="append", default=[], help="name servers, 'host' or 'none'")
    add("--dns-search", action="append", default=[])
    add("--dns-opt", action="append", default=[])
    add("--dns-domain", default="")
    add("--hosts-entry", action="append", default=[], help="IP=HOSTNAME or 'host'")
    add("--hostname", default="", help="the pod's hostname (default rkt-$UUID)")
    add("--mds-register", action="store_true", help=MDS_HELP)
    add("--ipc", default="", help=argparse.SUPPRESS)


def check_run_time_flags(args: argparse.Namespace) -> None:
    """Refuse the run-time flags this runtime does not support (ConfigError)."""
    if args.mds_register:
        from rkt.stage0.registration import check_network

        check_network(args.net)
    if args.ipc not in ("", "auto", "private"):
        raise ConfigError(
            f'--ipc="{args.ipc}" is not supported yet', hint="the pod's IPC is private"
        )


def use_overlay(args: argparse.Namespace) -> bool:
    """``--no-overlay``, or a kernel without overlayfs (said on stderr), as rkt did."""
    from rkt.stage0.prepare import overlay_supported

    if args.no_overlay:
        return False
    if not overlay_supported():
        sys.stderr.write("disabling overlay support: the kernel has no overlay filesystem\n")
        return False
    return True


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_pod_flags(parser, run=False)
    parser.add_argument("images", nargs=argparse.REMAINDER, metavar="IMAGE [flags] [-- args ---]")


def parse_command(args: argparse.Namespace, *, run: bool) -> AppList:
    """Read the images and their flags; pod flags among them update ``args`` in place."""
    from rkt.stage0.apps import parse_apps

    # Never shows help: any width spares argparse asking shutil (rkt.cli.main._help_width).
    formatter = functools.partial(argparse.HelpFormatter, width=78)
    scratch = argparse.ArgumentParser(
        prog="rkt", add_help=False, allow_abbrev=False, formatter_class=formatter
    )
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
    if not apps.apps and not args.pod_manifest:
        raise ConfigError("must provide at least one image or specify the pod manifest")
    if args.pod_manifest:
        _check_pod_manifest_flags(args, apps)
    if args.user_annotation or args.user_label:
        raise ConfigError("pod-level --user-annotation/--user-label are not supported yet")
    args.stage1_flavor = stage1_flavor(args, len(apps.apps), run=run)
    if args.stage1_flavor == "fly" and args.private_users:
        # fly runs the app in the host's user namespace: the shift would be a lie.
        raise ConfigError(
            "--private-users cannot be used with the fly stage1",
            hint="fly runs host tools as the host's users",
        )
    return apps


def stage1_flavor(args: argparse.Namespace, images: int, *, run: bool) -> str:
    """The stage1 flavor the ``--stage1-*`` flags pick: "fly" or "" (the built-in default).

    There are no stage1 images here: a flag naming rkt's fly stage1 (by image name, any
    version, or by its file name) selects the fly flavor and any other value is ignored with a
    warning. As in rkt, at most one of the flags may be given. fly runs exactly one app in the
    host's network: several images are refused and ``--net`` becomes ``host`` (rkt's fly stage1
    ignored ``--net``), with a warning unless it was left at its default.
    """
    given = [
        (n, getattr(args, n[2:].replace("-", "_"))) for n in (*STAGE1_FLAGS, "--stage1-from-dir")
    ]
    given = [(n, v) for n, v in given if v]
    if len(given) > 1:
        raise ConfigError(f"flags {given[0][0]} and {given[1][0]} are mutually exclusive")
    if not given:
        return ""
    from urllib.parse import urlsplit

    flag, value = given[0]
    fly = {
        "--stage1-name": value.partition(":")[0] == FLY_NAME,
        "--stage1-url": urlsplit(value).path.rsplit("/", 1)[-1] == FLY_FILE,
        "--stage1-path": value.rsplit("/", 1)[-1] == FLY_FILE,
        "--stage1-from-dir": value.rsplit("/", 1)[-1] == FLY_FILE,
    }.get(flag, False)
    if not fly:
        sys.stderr.write(f"{flag} ignored: only the built-in stage1 and {FLY_NAME} exist here\n")
        return ""
    if images > 1:
        raise ConfigError(
            f"the fly stage1 runs exactly one app per pod, {images} images were given",
            hint="run each image in a pod of its own",
        )
    if run and args.net != "host":
        if args.net != "default":
            sys.stderr.write(f"--net={args.net} ignored: fly apps use the host's network\n")
        args.net = "host"
    return "fly"


def _check_pod_manifest_flags(args: argparse.Namespace, apps: AppList) -> None:
    """With --pod-manifest the manifest is the whole pod: refuse images and the flags that
    would change it, as rkt did, rather than ignore them silently."""
    if apps.apps:
        images = ", ".join(app.image for app in apps.apps)
        raise ConfigError(
            f"conflicting arguments: image arguments ({images}) cannot be given with "
            f"--pod-manifest={args.pod_manifest}",
            hint="list the images as apps of the pod manifest",
        )
    given = [n for n in POD_MANIFEST_CONFLICTS if getattr(args, n[2:].replace("-", "_"))]
    if args.pull_policy != "new":
        given.append(f"--pull-policy={args.pull_policy}")
    if given:
        raise ConfigError(
            f"conflicting flags set with --pod-manifest={args.pod_manifest}: {', '.join(given)}",
            hint="the pod manifest alone defines the pod, and its images must be in the store",
        )


def pull_policy(args: argparse.Namespace) -> str:
    if args.store_only and args.no_store:
        raise ConfigError("both --store-only and --no-store specified")
    if args.store_only:
        return "never"
    if args.no_store:
        return "update"
    policy: str = args.pull_policy
    return policy


def select_networks(config: Config, net: str) -> list[Selected]:
    """The pod's networks for ``--net`` (:func:`rkt.net.pod.select`); none for host or none.

    Those two words alone are answered here: they are what schedulers pass on every run, and
    rkt.net.pod pulls in the CNI machinery (ipaddress, subprocess, hashlib), which such a pod
    never uses. Any other value, "none,host" included, goes to the parser and its errors.
    """
    from rkt.stage0.options import NETS

    if net in NETS:
        return []
    from rkt.net.selection import select

    _, networks = select(config.dirs, net)
    return networks


def stage_options(args: argparse.Namespace, config: Config, net: str, *, run: bool) -> StageOptions:
    """The options stage1 gets (stage1/options.json); the run-time flags only for rkt run."""
    from rkt.insecure import Insecure
    from rkt.stage0.options import (
        StageOptions,
        parse_env_pairs,
        parse_hosts_entries,
        read_env_file,
        split_lists,
    )

    return StageOptions(
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
        stage1_flavor=getattr(args, "stage1_flavor", ""),
        mds_register=bool(getattr(args, "mds_register", False)),
    )


def prepare_config(
    args: argparse.Namespace, config: Config, apps: AppList, *, run: bool
) -> tuple[str, PrepareConfig]:
    """Fetch the images, then prepare the pod; returns its UUID and the stage0 config."""
    from pathlib import Path

    from appc.errors import ValidationError
    from appc.schema.volume import Volume
    from rkt.datadir import DataDir
    from rkt.fetch import Fetcher
    from rkt.stage0.apps import parse_mount
    from rkt.stage0.manifest import ResolvedApp
    from rkt.stage0.options import parse_ports
    from rkt.stage0.prepare import PrepareConfig, prepare
    from rkt.store import Store

    try:
        volumes = tuple(Volume.from_string(v) for v in args.volume)
    except ValidationError as err:
        raise ConfigError(f"invalid --volume: {err}") from err
    pod_mounts = tuple(parse_mount(m) for m in args.mount)
    net = args.net if run else "none"
    ports = parse_ports(args.port)
    networks = select_networks(config, net)  # before any pod exists: a bad --net creates none
    options = stage_options(args, config, net, run=run)
    overlay = use_overlay(args)
    datadir = DataDir(config.data_dir)
    policy = pull_policy(args)
    with Store(datadir) as store:
        fetcher = Fetcher(config, store, stderr=sys.stderr)
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
            use_overlay=overlay,
            inherit_env=args.inherit_env,
            networks=networks,
            ports=ports,
            private_users=args.private_users,
            network_at_run=not run,
        )
        uuid = prepare(store, datadir.pods, stage0)
    return uuid, stage0


def prepare_pod_manifest(args: argparse.Namespace, config: Config, *, run: bool) -> str:
    """Prepare the pod of ``--pod-manifest``: validate it, find its images in the store (no
    fetching, as rkt), then prepare; returns the UUID. Every check runs before a pod exists."""
    from rkt.datadir import DataDir
    from rkt.stage0 import pod_manifest
    from rkt.store import Store

    path: str = args.pod_manifest
    manifest = pod_manifest.load(path)
    net = args.net if run else "none"
    networks = select_networks(config, net)
    options = stage_options(args, config, net, run=run)
    overlay = use_overlay(args)
    datadir = DataDir(config.data_dir)
    with Store(datadir) as store:
        pod = pod_manifest.resolve_ports(pod_manifest.resolve(store, manifest, path), net)
        return pod_manifest.prepare(
            store,
            datadir.pods,
            pod,
            options=options,
            use_overlay=overlay,
            networks=networks,
            private_users=args.private_users,
        )


def run(args: argparse.Namespace, config: Config) -> int:
    apps = parse_command(args, run=False)
    if args.pod_manifest:
        uuid = prepare_pod_manifest(args, config, run=False)
    else:
        uuid, _ = prepare_config(args, config, apps, run=False)
    sys.stdout.write(uuid + "\n")
    return 0
