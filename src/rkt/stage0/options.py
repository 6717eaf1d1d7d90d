"""``stage1/options.json``: the run options stage0 hands to stage1, and the flags they come from.

The file's type is the stage1 interface's :class:`~rkt.stage1.interface.Options`; this module
builds it from what the user asked (rkt run's and rkt prepare's flags) and rewrites it for
``rkt run-prepared``'s run-time flags.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import msgspec

from rkt.errors import ConfigError
from rkt.pod import layout
from rkt.stage1.interface import OPTIONS_VERSION, Options, RunOptions

if TYPE_CHECKING:
    from appc.schema.app import ExposedPort, Port
    from rkt.config import ConfigDirs
    from rkt.net.selection import Selected

__all__ = [
    "NETS",
    "Options",
    "RunFlags",
    "RunOptions",
    "Selected",
    "apply_run_flags",
    "select_networks",
    "stage1_options",
]

#: The ``--net`` values that need no CNI network; any other joins the pod's netns.
NETS = ("none", "host")


def select_networks(dirs: ConfigDirs, net: str) -> list[Selected]:
    """The pod's networks for ``--net`` (:func:`rkt.net.selection.select`); none for host or
    none.

    Those two words alone are answered here: they are what schedulers pass on every run, and
    rkt.net pulls in the CNI machinery (ipaddress, subprocess, hashlib), which such a pod
    never uses. Any other value, "none,host" included, goes to the parser and its errors.
    """
    if net in NETS:
        return []
    from rkt.net.selection import select

    _, networks = select(dirs, net)
    return networks


def stage1_options(
    run: RunOptions,
    net: str,
    *,
    app_environment: Mapping[str, tuple[tuple[str, str], ...]] | None = None,
    flavor: str = "",
    mds_register: bool = False,
) -> Options:
    """The options of a pod on ``net`` (ConfigError if malformed): ``host_network`` as
    ``--net=host`` says, and the netns file stage0 makes unless the network is none or host."""
    host, none = _host_or_none(net)
    return Options(
        version=OPTIONS_VERSION,
        options=msgspec.structs.replace(run, host_network=host),
        app_environment=dict(app_environment or {}),
        net=net,
        netns="" if host or none else layout.NETNS,
        stage1=flavor,
        mds_register=mds_register,
    )


def with_hostname(options: Options, uuid: str) -> Options:
    """The options as written into the pod: the hostname defaults to rkt's ``rkt-<uuid>``."""
    if options.options.hostname:
        return options
    run = msgspec.structs.replace(options.options, hostname=f"rkt-{uuid}")
    return msgspec.structs.replace(options, options=run)


class RunFlags(msgspec.Struct, frozen=True):
    """``rkt run-prepared``'s run-time flags (rkt 1.30: --net, --dns*, --hosts-entry,
    --hostname): ``rkt prepare`` takes none of them, so they replace what it wrote."""

    net: str = "default"
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    dns_domain: str = ""
    hosts_entries: tuple[tuple[str, tuple[str, ...]], ...] = ()
    hostname: str = ""
    #: asks for registration; without it, what prepare recorded stands
    mds_register: bool = False
    host_ipc: bool = False


def apply_run_flags(options: Options, flags: RunFlags) -> Options:
    """The options of a prepared pod with ``flags`` in them."""
    run = msgspec.structs.replace(
        options.options,
        dns=flags.dns,
        dns_search=flags.dns_search,
        dns_options=flags.dns_options,
        dns_domain=flags.dns_domain,
        hosts_entries=flags.hosts_entries,
        host_ipc=flags.host_ipc,
    )
    if flags.hostname:
        run = msgspec.structs.replace(run, hostname=flags.hostname)
    return stage1_options(
        run,
        flags.net,
        app_environment=options.app_environment,
        flavor=options.stage1,
        mds_register=flags.mds_register or options.mds_register,
    )


def _host_or_none(net: str) -> tuple[bool, bool]:
    """Whether ``--net`` is ``host``, and whether it is ``none``; ConfigError if malformed.

    Those two words parse to themselves without error, so only network lists load rkt.net.
    """
    if net in NETS:
        return net == "host", net == "none"
    from rkt.net.config import parse_net_list

    net_list = parse_net_list([net])
    return net_list.host, net_list.none


def parse_env_pairs(flag: str, values: Sequence[str]) -> tuple[tuple[str, str], ...]:
    """``K=V`` words; a later value of the same name wins, keeping the first's place."""
    merged: dict[str, str] = {}
    for text in values:
        key, eq, value = text.partition("=")
        if not eq or not key:
            raise ConfigError(f'{flag} "{text}" is not in the form key=value')
        merged[key] = value
    return tuple(merged.items())


def read_env_file(path: str) -> tuple[tuple[str, str], ...]:
    """``--set-env-file``: one ``K=V`` per line; blank lines and comments (lines starting with
    ``#`` or ``;``, as rkt's run.md says) skipped."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except OSError as err:
        raise ConfigError(f"cannot read environment file {path}: {err.strerror}") from err
    words = [line.strip() for line in lines]
    return parse_env_pairs(
        "--set-env-file", [w for w in words if w and not w.startswith(("#", ";"))]
    )


def parse_hosts_entries(values: Sequence[str]) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``--hosts-entry``: ``host`` alone, or ``IP=HOSTNAME`` (names for one IP gathered)."""
    if "host" in values:
        if len(values) > 1:
            raise ConfigError("--hosts-entry=host cannot be combined with other entries")
        return (("host", ()),)
    entries: dict[str, list[str]] = {}
    for text in values:
        ip, eq, name = text.partition("=")
        if not eq or not ip or not name:
            raise ConfigError(f'--hosts-entry "{text}" is not in the form IP=HOSTNAME')
        entries.setdefault(ip, []).append(name)
    return tuple((ip, tuple(names)) for ip, names in entries.items())


def split_lists(values: Sequence[str]) -> tuple[str, ...]:
    """Repeated, comma-separated flag values (``--dns=a,b --dns=c``) as one list."""
    return tuple(part for value in values for part in value.split(",") if part)


def parse_ports(values: Sequence[str]) -> tuple[ExposedPort, ...]:
    """``--port=NAME:[HOSTIP:]HOSTPORT`` (repeatable): the forwards, not yet resolved.

    ``HOSTIP`` may be an IPv6 address, bare or in brackets (``http:[fd00::1]:8080``), but not
    ``::1``; the name is everything before the first colon and the port everything after the
    last one.
    """
    import ipaddress

    from appc.errors import ValidationError
    from appc.schema.app import ExposedPort
    from appc.schema.name import ac_name

    found: dict[str, ExposedPort] = {}
    for text in values:
        name, colon, rest = text.partition(":")
        host_ip, _, port_text = rest.rpartition(":")
        host_ip = host_ip.removeprefix("[").removesuffix("]")
        if not colon or not name or not port_text.isdigit():
            raise ConfigError(f'--port "{text}" is not in the form NAME:[HOSTIP:]HOSTPORT')
        try:
            ac_name(name, "--port")
        except ValidationError as err:
            raise ConfigError(f'--port "{text}": invalid port name: {err}') from err
        port = int(port_text)
        if not 1 <= port <= 65535:
            raise ConfigError(f'--port "{text}": host port {port} is not in 1-65535')
        if host_ip:
            try:
                address = ipaddress.ip_address(host_ip)
            except ValueError:
                raise ConfigError(f'--port "{text}": {host_ip!r} is not an IP address') from None
            if address.version == 6 and address.is_loopback:
                # portmap's DNAT of ::1 never reaches the pod: IPv6 has no route_localnet.
                raise ConfigError(
                    f'--port "{text}": ::1 cannot be forwarded to a pod',
                    hint="use 127.0.0.1, or an IPv6 address of one of the host's interfaces",
                )
        if name in found:
            raise ConfigError(f"--port {name} given more than once")
        found[name] = ExposedPort(name, port, host_ip)
    return tuple(found.values())


def resolve_ports(
    ports: Sequence[ExposedPort], app_ports: Sequence[Port], net: str
) -> tuple[ExposedPort, ...]:
    """Each forward with its image port (``podPort``); ConfigError for an unknown name or a
    pod without a network of its own (``--net=host``/``none``), where there is nothing to map."""
    from msgspec.structs import replace

    if not ports:
        return ()
    if net in NETS:
        raise ConfigError(
            f"--port cannot be used with --net={net}",
            hint="ports are forwarded to a pod's CNI network (e.g. --net=default)"
            if net == "none"
            else "with --net=host the apps' ports are the host's already",
        )
    by_name = {p.name: p for p in app_ports}
    resolved = []
    for port in ports:
        pod_port = by_name.get(port.name)
        if pod_port is None:
            known = ", ".join(sorted(by_name)) or "none"
            raise ConfigError(
                f"--port {port.name}: no app of the pod has a port named {port.name!r} "
                f"(the images' ports: {known})"
            )
        if port.host_port + pod_port.count > 65536:
            raise ConfigError(
                f"--port {port.name}: {pod_port.count} ports from {port.host_port} pass 65535"
            )
        resolved.append(replace(port, pod_port=pod_port))
    return tuple(resolved)


def port_mappings(ports: Sequence[ExposedPort]) -> list[dict[str, object]]:
    """The CNI ``portMappings`` runtime config of resolved forwards (one per port of a range)."""
    mappings: list[dict[str, object]] = []
    for port in ports:
        if port.pod_port is None:
            continue
        for offset in range(port.pod_port.count):
            mapping: dict[str, object] = {
                "hostPort": port.host_port + offset,
                "containerPort": port.pod_port.port + offset,
                "protocol": port.pod_port.protocol,
            }
            if port.host_ip:
                mapping["hostIP"] = port.host_ip
            mappings.append(mapping)
    return mappings
