"""``rkt prepare [flags] IMAGE [per-app flags] [-- args ---]...``: fetch the images (pull policy
``new``), prepare a pod and print its UUID.

Flags before the first image are read by the verb's flag set (:mod:`rkt.cli.flags`); from the
first image on, the words are read as rkt's parseApps does (:mod:`rkt.stage0.apps`), and
pod-level flags found there are given back to the flag set. ``--stage1-*`` flags pick the
stage1 flavor (see :func:`stage1_flavor`): the built-in Python one, or fly. ``--quiet`` is
accepted for rkt compatibility; the UUID is the only thing prepare prints on stdout either way
(messages go to stderr).

With ``--pod-manifest=FILE`` there are no images: the manifest describes the whole pod
(:mod:`rkt.stage0.pod_manifest`), and the flags that would change it are refused.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from collections.abc import Callable

    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config
    from rkt.stage0.apps import AppList
    from rkt.stage0.options import Options
    from rkt.stage0.request import PodRequest

USE = (
    "prepare [--volume=name,kind=host,...] [--mount volume=VOL,target=PATH] [--quiet] "
    "IMAGE [-- image-args...[---]]..."
)
DESCRIPTION = """\
Prepares a pod and prints its UUID, for rkt run-prepared to run: the pod's UUID is known before
it runs, and a slow preparation (fetching, rendering) happens ahead of time.

IMAGE is an image ID, a file, a URL or an image name, tried in that order. The flags after an
image (--exec, --user, --memory, ...) are that image's. "--" gives the rest of the words to
the image's app as arguments, up to a lone "---"."""

STAGE1_FLAGS = ("--stage1-url", "--stage1-path", "--stage1-name", "--stage1-hash")
#: rkt's name of the fly stage1 image, and its file name, which is what --stage1-path, -url and
#: -from-dir name it by (CoreOS's kubelet-wrapper ran ``--stage1-from-dir=stage1-fly.aci``).
FLY_NAME = "coreos.com/rkt/stage1-fly"
FLY_FILE = "stage1-fly.aci"
MDS_HELP = (
    "register the pod with the metadata service (rkt metadata-service); needs a network the "
    "host can reach (--net=default, a CNI network or host)"
)
#: rkt 1.30 refused these together with --pod-manifest ("conflicting flags"): the manifest
#: alone says which volumes, mounts, ports and environment the pod has, and nothing is fetched.
POD_MANIFEST_CONFLICTS = (
    "--volume", "--mount", "--port", "--inherit-env", "--set-env", "--set-env-file",
    "--store-only", "--no-store",
)  # fmt: skip
#: Each --stage1-* flag: its pflag type name and help.
_STAGE1 = {
    "stage1-url": ("stage1URL", "URL of the image to use as stage1"),
    "stage1-path": ("stage1Path", "path (absolute or relative) of the image to use as stage1"),
    "stage1-name": ("stage1Name", "name of the image to use as stage1"),
    "stage1-hash": ("stage1Hash", "ID of the image in the store to use as stage1"),
    "stage1-from-dir": (
        "stage1FromDir",
        "file name of the stage1 image in the stage1 images directory",
    ),
}
#: The per-app flags (rkt.stage0.apps.APP_FLAGS): pflag type name and help. --mount and
#: --signature are declared with the pod's flags: before any image they are the pod's.
_APP_FLAGS = {
    "--exec": ("appExec", "the command to run instead of the preceding image's exec"),
    "--name": ("appName", "the app's name (default: from the image's name)"),
    "--user": ("appUser", "the user the preceding image's app runs as (name, uid or file)"),
    "--group": ("appGroup", "the group the preceding image's app runs as (name, gid or file)"),
    "--supplementary-gids": (
        "appSupplementaryGIDs",
        "supplementary group IDs of the app (e.g. 1024,2048)",
    ),
    "--working-dir": ("appWorkingDir", "the working directory of the preceding image's app"),
    "--environment": (
        "appEnv",
        "an environment variable of the app, NAME=VALUE (overrides --set-env)",
    ),
    "--readonly-rootfs": ("appReadOnlyRootFS", "mount the app's rootfs read-only (true or false)"),
    "--annotation": ("appAnnotation", "an annotation of the app, NAME=VALUE"),
    "--user-annotation": ("appUserAnnotation", "a user annotation of the app, NAME=VALUE"),
    "--user-label": ("appLabel", "a user label of the app, NAME=VALUE"),
    "--memory": ("appMemoryLimit", "the app's memory limit (e.g. 16Mi, 50M, 1G)"),
    "--cpu": ("appCPULimit", "the app's CPU limit, in cores or millicores (e.g. 500m)"),
    "--cpu-shares": ("appCPUShares", "the app's CPU weight, as cgroup cpu.shares (e.g. 2048)"),
    "--oom-score-adj": ("appOOMScoreAdj", "the app's OOM score adjustment (-1000 to 1000)"),
    "--caps-retain": (
        "appCapsRetain",
        "the capabilities the app keeps, the others dropped (e.g. CAP_NET_BIND_SERVICE)",
    ),
    "--caps-remove": (
        "appCapsRemove",
        "capabilities the app loses from the default set (e.g. CAP_MKNOD)",
    ),
    "--seccomp": (
        "appSeccompFilter",
        "the app's seccomp filter (e.g. mode=retain,errno=EPERM,chmod,chown)",
    ),
    "--stdin": ("appStdin", "the app's stdin: null, stream or tty (rkt attach)"),
    "--stdout": ("appStdout", "the app's stdout: null, log, stream or tty (rkt logs, attach)"),
    "--stderr": ("appStderr", "the app's stderr: null, log, stream or tty (rkt logs, attach)"),
    "--cap-retain": ("appCapsRetain", ""),
    "--cap-remove": ("appCapsRemove", ""),
}
_DEPRECATED_APP_FLAGS = {"--cap-retain": "use --caps-retain instead",
                         "--cap-remove": "use --caps-remove instead"}  # fmt: skip
#: The per-app flags that, before the first image, are the pod's (all its apps').
POD_AND_APP_FLAGS = ("--mount", "--signature")
PULL_POLICIES = ("never", "new", "update")
IPC_MODES = ("auto", "private", "parent")


def _choice(flag: str, allowed: tuple[str, ...]) -> Callable[[str], str]:
    def check(text: str) -> str:
        if text not in allowed:
            raise ValueError(f"{flag} must be one of {', '.join(allowed)}")
        return text

    return check


def _must_follow_an_image(name: str) -> Callable[[str], str]:
    def check(text: str) -> str:
        raise ValueError(f"{name} must follow an image")

    return check


def add_pod_flags(flags: FlagSet, *, run: bool) -> None:
    """The flags of rkt prepare (``run=False``) or rkt run: the pod's, and the per-app ones."""
    from rkt.cli.flags import BoolFlag, Flag, ListFlag
    from rkt.stage0.app_flags import APP_FLAGS

    add = flags.add
    for name, (type_name, usage) in _STAGE1.items():
        add(Flag(name, usage, "", type_name=type_name, metavar="IMAGE"))
    add(
        ListFlag(
            "port",
            "forward a port of the pod's apps on the host (needs a network of the "
            "pod's own): NAME:[HOSTIP:]HOSTPORT",
            type_name="portList",
            metavar="PORT",
        )
    )
    add(BoolFlag("inherit-env", "give the apps rkt's environment (below what apps set)"))
    add(BoolFlag("no-overlay", "copy the images' trees instead of mounting overlayfs over them"))
    add(BoolFlag("private-users", "run the pod in a user namespace of its own"))
    add(
        ListFlag(
            "set-env",
            "an environment variable for every app, NAME=VALUE (--environment overrides it)",
            type_name="kvMap",
            metavar="NAME=VALUE",
        )
    )
    add(
        ListFlag(
            "set-env-file",
            "a file of NAME=VALUE lines for every app",
            type_name="envFileMap",
            metavar="FILE",
        )
    )
    add(BoolFlag("store-only", "", deprecated="please use --pull-policy=never"))
    add(BoolFlag("no-store", "", deprecated="please use --pull-policy=update"))
    add(
        Flag(
            "pull-policy",
            'when to fetch an image: "never", "new" (when not in the store) or "update" (always)',
            "new",
            check=_choice("--pull-policy", PULL_POLICIES),
            choices=PULL_POLICIES,
        )
    )
    add(
        Flag(
            "pod-manifest",
            "a pod manifest to run instead of images: then only --net, "
            "--no-overlay, --interactive, --dns*, --hosts-entry, --hostname, "
            "--uuid-file-save and --quiet apply",
            "",
            metavar="FILE",
        )
    )
    add(
        ListFlag(
            "volume",
            "a volume of the pod: NAME,kind=host,source=PATH[,readOnly=true] or "
            "NAME,kind=empty[,mode=0755,uid=0,gid=0]",
            type_name="appsVolume",
            metavar="VOLUME",
        )
    )
    add(
        ListFlag(
            "mount",
            "bind a volume into the apps (into the preceding image's app after "
            "an image): volume=NAME,target=PATH",
            type_name="appMount",
            metavar="MOUNT",
        )
    )
    add(
        Flag(
            "signature",
            "the signature file of the preceding image",
            "",
            type_name="appAsc",
            metavar="FILE",
        )
    )
    for name, takes_value in APP_FLAGS.items():
        if name in POD_AND_APP_FLAGS:
            continue
        type_name, usage = _APP_FLAGS[name]
        add(
            Flag(
                name[2:],
                usage,
                "",
                type_name=type_name,
                per_app=True,
                check=_must_follow_an_image(name),
                no_opt="" if takes_value else "true",
                deprecated=_DEPRECATED_APP_FLAGS.get(name, ""),
            )
        )
    if run:
        add_run_time_flags(flags)
        add(Flag("uuid-file-save", "write the pod's UUID to this file", "", metavar="FILE"))
    else:
        add(BoolFlag("quiet", "print only the UUID on stdout (messages go to stderr anyway)"))
        add(BoolFlag("mds-register", MDS_HELP + " when it runs"))
    # Everything from the first image on is read word by word (parse_command).
    flags.interspersed = False
    flags.rest("images", "IMAGE")


def add_run_time_flags(flags: FlagSet) -> None:
    """The flags of ``rkt run`` that ``rkt run-prepared`` takes too (rkt 1.30): what the pod
    gets when it runs rather than when it is prepared."""
    from rkt.cli.flags import BoolFlag, Flag, ListFlag

    add = flags.add
    add(
        ListFlag(
            "net",
            "the pod's networks: default, host, none, all or networks of net.d, "
            "each with CNI_ARGS: --net[=n[:args], ...]",
            ("default",),
            default_text="default",
            no_opt="default",
            type_name="netList",
            join=",",
        )
    )
    add(BoolFlag("interactive", "run the pod with the terminal (one image only)"))
    add(
        ListFlag(
            "dns",
            "a name server for the pods' resolv.conf; 'host' for the host's "
            "resolv.conf, 'none' to ignore the networks' DNS",
            type_name="flagStringList",
        )
    )
    add(ListFlag("dns-search", "a search domain for resolv.conf", type_name="flagStringList"))
    add(
        ListFlag(
            "dns-opt", "an option for resolv.conf (resolv.conf(5))", type_name="flagStringList"
        )
    )
    add(Flag("dns-domain", "the domain for resolv.conf", ""))
    add(
        ListFlag(
            "hosts-entry",
            "an entry of the pod's /etc/hosts, IP=HOSTNAME; 'host' for the host's /etc/hosts",
            type_name="flagStringList",
        )
    )
    add(Flag("hostname", 'the pod\'s hostname (default "rkt-$PODUUID")', ""))
    add(
        Flag(
            "ipc",
            "the pod's IPC namespace: auto, private or parent (the host's)",
            "",
            check=_choice("--ipc", ("", *IPC_MODES)),
            choices=IPC_MODES,
        )
    )
    add(BoolFlag("mds-register", MDS_HELP))
    add(
        BoolFlag(
            "detach",
            "print the pod's UUID and return once its apps have started; the pod runs on "
            "(rkt stop, status, logs, attach)",
            shorthand="d",
        )
    )
    add(
        Flag(
            "log-max-size",
            "the size an app's log reaches before it is rotated (one older file is kept)",
            "16Mi",
            check=_log_size,
            metavar="SIZE",
        )
    )


def _log_size(text: str) -> int:
    """``--log-max-size``: a quantity (16Mi, 1G, 100000), 0 for logs that are never rotated."""
    from appc.schema.quantity import Quantity

    value = Quantity.parse(text).value()
    if value < 0 or (0 < value < 4096):
        raise ValueError("expected 0 (never rotate) or at least 4096 bytes")
    return value


def check_run_time_flags(args: Namespace) -> None:
    """Refuse the run-time flags this runtime does not support (ConfigError)."""
    if args.mds_register:
        from rkt.stage0.registration import check_network

        check_network(args.net)
    if args.detach and args.interactive:
        raise ConfigError("--detach and --interactive cannot be used together")


def add_arguments(flags: FlagSet) -> None:
    add_pod_flags(flags, run=False)


def parse_command(args: Namespace, *, run: bool) -> AppList:
    """Read the images and their flags; the pod's flags among them update ``args``, as
    rkt's parseApps gave them to the command's flag set again."""
    from rkt.cli.commands import Command
    from rkt.cli.flags import UsageError
    from rkt.stage0.apps import parse_apps

    flags = Command(("run",) if run else ("prepare",)).flags
    pod_flags = flags.value_flags(per_app=False)
    for name in POD_AND_APP_FLAGS:
        del pod_flags[name]
    apps = parse_apps(list(args.images), pod_flags)
    if apps.pod_words:
        try:
            flags.parse(apps.pod_words, args)
        except UsageError as err:
            raise ConfigError(str(err)) from None
    for name in dict.fromkeys(apps.deprecated):
        args.warnings.append(f"Flag {name} has been deprecated, {_DEPRECATED_APP_FLAGS[name]}")
    for warning in args.warnings:
        sys.stderr.write(warning + "\n")
    args.warnings.clear()
    if args.signature:
        if len(apps.apps) != 1 or apps.apps[0].signature is not None:
            raise ConfigError("--signature must follow the image it signs")
        apps.apps[0].signature = args.signature
    if not apps.apps and not args.pod_manifest:
        raise ConfigError("must provide at least one image or specify the pod manifest")
    if args.pod_manifest:
        _check_pod_manifest_flags(args, apps)
    args.stage1_flavor = stage1_flavor(args, len(apps.apps), run=run)
    if args.stage1_flavor == "fly" and args.private_users:
        # fly runs the app in the host's user namespace: the shift would be a lie.
        raise ConfigError(
            "--private-users cannot be used with the fly stage1",
            hint="fly runs host tools as the host's users",
        )
    return apps


def config_with_late_flags(args: Namespace, config: Config, apps: AppList) -> Config:
    """The configuration again if global flags stood among the images (rkt read them there);
    still the process it was (``rkt run`` becomes the pod's monitor only in its own)."""
    if not apps.pod_words:
        return config
    from rkt.cli.main import config_from

    return config_from(args, config.own_process)


def stage1_flavor(args: Namespace, images: int, *, run: bool) -> str:
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


def _check_pod_manifest_flags(args: Namespace, apps: AppList) -> None:
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


def pull_policy(args: Namespace) -> str:
    if args.store_only and args.no_store:
        raise ConfigError("both --store-only and --no-store specified")
    if args.store_only:
        return "never"
    if args.no_store:
        return "update"
    policy: str = args.pull_policy
    return policy


def stage_options(args: Namespace, config: Config, net: str, *, run: bool) -> Options:
    """The options stage1 gets (stage1/options.json); the run-time flags only for rkt run."""
    from rkt.insecure import Insecure
    from rkt.stage0.options import (
        RunOptions,
        parse_env_pairs,
        parse_hosts_entries,
        read_env_file,
        split_lists,
        stage1_options,
    )

    options = RunOptions(
        hostname=args.hostname if run else "",
        interactive=args.interactive if run else False,
        set_env_file=tuple(pair for path in args.set_env_file for pair in read_env_file(path)),
        set_env=parse_env_pairs("--set-env", args.set_env),
        dns=split_lists(args.dns) if run else (),
        dns_search=split_lists(args.dns_search) if run else (),
        dns_options=split_lists(args.dns_opt) if run else (),
        dns_domain=args.dns_domain if run else "",
        hosts_entries=parse_hosts_entries(args.hosts_entry) if run else (),
        insecure_paths=bool(config.insecure & Insecure.PATHS),
        insecure_seccomp=bool(config.insecure & Insecure.SECCOMP),
        insecure_capabilities=bool(config.insecure & Insecure.CAPABILITIES),
        host_ipc=run and host_ipc(args.ipc),
    )
    return stage1_options(
        options,
        net,
        flavor=getattr(args, "stage1_flavor", ""),
        mds_register=bool(getattr(args, "mds_register", False)),
    )


def host_ipc(mode: str) -> bool:
    """``--ipc``: "parent" shares the host's IPC namespace; "auto" (or none) and "private"
    give the pod its own, as rkt's default stage1 did (fly always shares the host's)."""
    return mode == "parent"


def pod_request(args: Namespace, config: Config, apps: AppList, *, run: bool) -> PodRequest:
    """The pod ``args`` ask for (rkt.stage0.request): ``rkt prepare``'s flags, and with
    ``run`` ``rkt run``'s run-time ones."""
    from rkt.stage0.request import PodRequest

    net = args.net if run else "none"
    return PodRequest(
        apps=tuple(apps.apps),
        pod_manifest=args.pod_manifest,
        options=stage_options(args, config, net, run=run),
        volumes=tuple(args.volume),
        mounts=tuple(args.mount),
        ports=tuple(args.port),
        pull_policy=pull_policy(args),
        use_overlay=not args.no_overlay,
        inherit_env=args.inherit_env,
        private_users=args.private_users,
        network_at_run=not run,
    )


def run(args: Namespace, config: Config) -> int:
    apps = parse_command(args, run=False)
    config = config_with_late_flags(args, config, apps)
    from rkt.stage0.request import prepare

    uuid = prepare(config, pod_request(args, config, apps, run=False))
    sys.stdout.write(uuid + "\n")
    return 0
