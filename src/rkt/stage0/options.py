"""``stage1/options.json``: the run options stage0 hands to stage1 (docs/stage1-interface.md).

The ``options`` object carries :class:`rkt.stage1.planner.plan.PodOptions`'s fields minus
``pod_dir`` (stage1 knows where it runs); environment variables are ``[name, value]`` pairs and
hosts entries ``[ip, [hostnames...]]`` so that the file stays plain JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import msgspec

from rkt.errors import ConfigError

if TYPE_CHECKING:
    from appc.schema.app import ExposedPort, Port

OPTIONS_FILE = "stage1/options.json"
VERSION = 1
#: The ``--net`` values that need no CNI network; any other joins the pod's netns (``netns``).
NETS = ("none", "host")
#: Where stage0 keeps the pod's network namespace, relative to the pod directory
#: (rkt.net.pod.NETNS); stage1 joins it instead of unsharing a fresh one.
NETNS = "netns"


class StageOptions(msgspec.Struct, frozen=True):
    hostname: str = ""
    interactive: bool = False
    set_env_file: tuple[tuple[str, str], ...] = ()
    set_env: tuple[tuple[str, str], ...] = ()
    dns: tuple[str, ...] = ()
    dns_search: tuple[str, ...] = ()
    dns_options: tuple[str, ...] = ()
    dns_domain: str = ""
    hosts_entries: tuple[tuple[str, tuple[str, ...]], ...] = ()
    net: str = "none"
    insecure_paths: bool = False
    insecure_seccomp: bool = False
    insecure_capabilities: bool = False
    #: per-app --environment, the top layer of each app's environment
    app_environment: Mapping[str, tuple[tuple[str, str], ...]] = msgspec.field(default_factory=dict)
    #: the stage1 flavor, "" for the default; recorded as the top-level "stage1" key only when
    #: set, and read back by rkt.stage1.fly.flavor
    stage1_flavor: str = ""
    #: --mds-register: the top-level "mds_register" key (rkt.stage0.registration)
    mds_register: bool = False
    #: ``--ipc=parent``: the pod stays in the host's IPC namespace
    host_ipc: bool = False

    def to_json(self, uuid: str) -> bytes:
        """The document; the hostname defaults to rkt's ``rkt-<uuid>``."""
        host, none = _host_or_none(self.net)
        options = {
            "hostname": self.hostname or f"rkt-{uuid}",
            "interactive": self.interactive,
            "set_env_file": [list(p) for p in self.set_env_file],
            "set_env": [list(p) for p in self.set_env],
            "dns": list(self.dns),
            "dns_search": list(self.dns_search),
            "dns_options": list(self.dns_options),
            "dns_domain": self.dns_domain,
            "hosts_entries": [[ip, list(names)] for ip, names in self.hosts_entries],
            "host_network": host,
            "insecure_paths": self.insecure_paths,
            "insecure_seccomp": self.insecure_seccomp,
            "insecure_capabilities": self.insecure_capabilities,
        }
        if self.host_ipc:
            options["host_ipc"] = True
        document = {
            "version": VERSION,
            "options": options,
            "app_environment": {
                app: [list(p) for p in pairs] for app, pairs in sorted(self.app_environment.items())
            },
            "net": self.net,
        }
        if self.stage1_flavor:
            document["stage1"] = self.stage1_flavor
        if self.mds_register:
            document["mds_register"] = True
        if not (host or none):
            document["netns"] = NETNS
        return json.dumps(document, indent=2).encode() + b"\n"


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


def apply_run_flags(document: dict[str, Any], flags: RunFlags) -> dict[str, Any]:
    """The ``stage1/options.json`` document of a prepared pod with ``flags`` in it."""
    host, none = _host_or_none(flags.net)
    options = dict(document.get("options") or {})
    options.update(
        dns=list(flags.dns),
        dns_search=list(flags.dns_search),
        dns_options=list(flags.dns_options),
        dns_domain=flags.dns_domain,
        hosts_entries=[[ip, list(names)] for ip, names in flags.hosts_entries],
        host_network=host,
    )
    if flags.hostname:
        options["hostname"] = flags.hostname
    options.pop("host_ipc", None)
    if flags.host_ipc:
        options["host_ipc"] = True
    updated = {**document, "options": options, "net": flags.net}
    if flags.mds_register:
        updated["mds_register"] = True
    if host or none:
        updated.pop("netns", None)
    else:
        updated["netns"] = NETNS
    return updated


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
