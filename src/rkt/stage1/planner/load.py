"""Reading what stage0 left in a pod directory into a :class:`PodInput` (docs/stage1-interface.md).

``pod``, ``appsinfo/<app>/manifest`` and ``stage1/options.json``; each app's root is
``stage1/rootfs/opt/stage2/<app>/rootfs``, already mounted by stage0. A missing options file
means the defaults: hostname ``rkt-<uuid>`` (the plan derives it) and no network.
"""

from __future__ import annotations

import os

import msgspec
from msgspec.structs import asdict, replace

from appc.schema.environment import EnvironmentVariable
from appc.schema.image import ImageManifest
from appc.schema.pod import PodManifest
from rkt.errors import PodError, Stage1Error
from rkt.pod import layout
from rkt.stage1.interface import (
    HOST_NETS,
    LISTEN_FDNAMES_ENV,
    LISTEN_FDS_ENV,
    MAX_OPTIONS_SIZE,
    OPTIONS_VERSION,
    Options,
    RunOptions,
    read_options,
)
from rkt.stage1.planner.plan import AppInput, PodInput, PodOptions

#: What the pod directory holds is small; a larger file is a mistake, not something to parse.
MAX_FILE_SIZE = MAX_OPTIONS_SIZE


class LoadError(Stage1Error):
    """The pod directory does not hold what the interface promises."""


class Loaded(msgspec.Struct, frozen=True):
    input: PodInput
    net: str
    #: the pod's network namespace file to join (absolute), "" for none/host
    netns: str = ""
    #: Loaded before the networks were up, and the plan needs their results (DNS): load again
    #: once they are (see :func:`load`'s ``networks_up``).
    needs_networks: bool = False


def app_root(pod_dir: str, app: str) -> str:
    return f"{pod_dir.rstrip('/')}/{layout.app_root(app)}"


def _read(pod_dir: str, name: str) -> bytes:
    path = os.path.join(pod_dir, name)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_SIZE + 1)
    except OSError as err:
        raise LoadError(f"cannot read {path}: {err.strerror}") from err
    if len(data) > MAX_FILE_SIZE:
        raise LoadError(f"{path} is larger than {MAX_FILE_SIZE} bytes")
    return data


def _options(pod_dir: str, run: RunOptions, interactive: bool) -> PodOptions:
    # --pod-dir is authoritative: stage0 may have moved the pod since it wrote the options.
    options = PodOptions(pod_dir=pod_dir, **asdict(run))
    return replace(options, interactive=True) if interactive else options


def _dns_from_networks(pod_dir: str, options: PodOptions) -> bool:
    """Whether the pod's DNS comes from its CNI networks' results: rkt's precedence is the
    ``--dns*`` flags, else the DNS the networks returned, else none; and only networks that
    can return any count (rkt.net.files.may_return_dns)."""
    if options.dns or options.dns_search or options.dns_options or options.dns_domain:
        return False
    from pathlib import Path

    from rkt.net.files import may_return_dns

    return may_return_dns(Path(pod_dir))


def _network_dns(pod_dir: str, options: PodOptions) -> PodOptions:
    """The options with the DNS the CNI networks returned, if any."""
    from pathlib import Path

    from rkt.net.pod import dns

    got = dns(Path(pod_dir), os.path.basename(pod_dir.rstrip("/")))
    if not got.nameservers:
        return options
    return replace(
        options,
        dns=got.nameservers,
        dns_search=got.search,
        dns_options=got.options,
        dns_domain=got.domain,
    )


def _user_range(pod_dir: str) -> tuple[int, int] | None:
    """``private-users-prepared``: ``<first host id>:<count>`` (rkt's form), for
    ``--private-users``; None without the file."""
    if not os.path.exists(os.path.join(pod_dir, layout.PRIVATE_USERS_PREPARED)):
        return None
    text = _read(pod_dir, layout.PRIVATE_USERS_PREPARED).decode("ascii", "replace").strip()
    first, sep, count = text.partition(":")
    if not sep or not first.isdigit() or not count.isdigit() or not 0 < int(count) <= 1 << 32:
        raise LoadError(
            f'{layout.PRIVATE_USERS_PREPARED}: expected "<first host id>:<count>", got {text!r}'
        )
    return int(first), int(count)


def _systemd_runtime(options: PodOptions) -> PodOptions:
    """What systemd gave the process running the pod: its output is a journal stream (then
    so are the apps'), and sockets for socket activation (stage0 passes them on)."""
    from rkt.linux import journal

    count = os.environ.get(LISTEN_FDS_ENV, "")
    sockets: tuple[tuple[int, str, str, int], ...] = ()
    if count.isdigit() and int(count):
        from rkt.linux import activation

        fds = list(range(activation.FIRST_FD, activation.FIRST_FD + int(count)))
        found = activation.describe(fds, os.environ.get(LISTEN_FDNAMES_ENV, ""))
        sockets = tuple((s.fd, s.name, s.protocol, s.port) for s in found)
    return replace(options, journal=journal.is_journal_stream(1), listen_sockets=sockets)


def load(pod_dir: str, *, interactive: bool = False, networks_up: bool = True) -> Loaded:
    """Everything the plan needs, from the pod directory; LoadError names what is wrong.

    ``networks_up=False``: stage0 is still ADDing the pod's networks. If the plan depends on
    their results (their DNS), they are not read and ``needs_networks`` says so."""
    try:
        manifest = PodManifest.from_json(_read(pod_dir, layout.MANIFEST))
    except LoadError:
        raise
    except Exception as err:  # appc's ValidationError and friends: all "invalid manifest"
        raise LoadError(f"invalid pod manifest: {err}") from err
    try:
        found = read_options(pod_dir) or Options(version=OPTIONS_VERSION)
    except PodError as err:
        raise LoadError(str(err)) from err
    net, netns = found.net, found.netns
    if netns.startswith("/") or ".." in netns.split("/"):
        raise LoadError(f"{layout.OPTIONS}: netns must be a path inside the pod directory")
    if net not in HOST_NETS and not netns:
        raise LoadError(f'network "{net}" is not supported yet')
    options = _options(pod_dir, found.options, interactive)
    if net == "host":
        options = replace(options, host_network=True)
    needs_networks = False
    # --mds-register: stage0 registers the pod, and writes its AC_METADATA_URL, once the
    # networks are up (rkt.stage0.registration).
    registered = found.mds_register
    if netns and not options.host_network:
        dns = _dns_from_networks(pod_dir, options)
        if (dns or registered) and not networks_up:
            needs_networks = True
        elif dns:
            options = _network_dns(pod_dir, options)
        options = replace(options, netns_joined=True)
    if registered and not needs_networks and not options.metadata_url:
        raise LoadError(f"{layout.OPTIONS}: the pod is to be registered but has no metadata_url")
    user_range = _user_range(pod_dir)
    if user_range is not None:
        options = replace(options, user_range=user_range)
    options = _systemd_runtime(options)
    apps = []
    for runtime_app in manifest.apps:
        try:
            image = ImageManifest.from_json(
                _read(pod_dir, layout.app_image_manifest(runtime_app.name))
            )
        except LoadError:
            raise
        except Exception as err:
            raise LoadError(f'app "{runtime_app.name}": invalid image manifest: {err}') from err
        root = app_root(pod_dir, runtime_app.name)
        if not os.path.isdir(root):
            raise LoadError(f'app "{runtime_app.name}": its root {root} is missing')
        env = tuple(
            EnvironmentVariable(k, v) for k, v in found.app_environment.get(runtime_app.name, ())
        )
        apps.append(AppInput(runtime_app, image, root, env))
    return Loaded(
        PodInput(manifest, tuple(apps), options),
        "host" if options.host_network else net,
        "" if options.host_network or not netns else os.path.join(pod_dir, netns),
        needs_networks,
    )
