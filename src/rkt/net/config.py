"""Network configurations (``net.d``) and the ``--net`` flag.

Where networks come from, lowest precedence first (rkt 1.30 ``networking/podenv.go``):

1. the built-ins ``99-default.conf`` and ``99-default-restricted.conf`` (rkt ships them in the
   stage1 image under ``etc/rkt/net.d``; here they are constants);
2. ``<system config dir>/net.d`` (``/usr/lib/rkt/net.d``);
3. ``<local config dir>/net.d`` (``/etc/rkt/net.d``), where rkt documents user networks.

Inside one directory files are read in lexical order and the first file defining a name wins
(rkt logs and ignores later ones); a later directory's network replaces an earlier one of the same
name, which is how a user ``default`` replaces the built-in. Networks are applied to a pod in the
lexical order of their *file names*, whatever directory they came from (rkt's ``byFilename``).

rkt 1.30 reads only ``*.conf``; ``*.conflist`` (CNI plugin chains) is read too, per issue #6.

IPv6: a file ``net.d/default.ipv6`` holding one IPv6 subnet (``fd52:6b74:1::/64``) makes the
built-in ``default`` dual-stack (:func:`read_default_ipv6`, :func:`dual_stack`); a user's own
``default`` network replaces the built-in, and that file with it.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from types import MappingProxyType
from typing import Any

import msgspec

from rkt import jsondoc
from rkt.config import ConfigDirs
from rkt.errors import ConfigError

__all__ = [
    "BUILTIN_DEFAULT",
    "BUILTIN_DEFAULT_RESTRICTED",
    "DEFAULT_IPV6_FILE",
    "NetList",
    "NetworkConfig",
    "builtin_networks",
    "dual_stack",
    "load_networks",
    "parse_net_list",
    "parse_network",
    "read_default_ipv6",
    "select_networks",
]

# rkt's stage1/net/rootfs/etc/rkt/net.d files, with cniVersion raised from rkt's "0.1.0" to the
# spec version our client speaks (the Debian plugins accept both; 1.0.0 results are richer).
BUILTIN_DEFAULT: Mapping[str, Any] = MappingProxyType(
    {
        "cniVersion": "1.0.0",
        "name": "default",
        "type": "ptp",
        "ipMasq": True,
        "ipam": {
            "type": "host-local",
            "subnet": "172.16.28.0/24",
            "routes": [{"dst": "0.0.0.0/0"}],
        },
    }
)
BUILTIN_DEFAULT_RESTRICTED: Mapping[str, Any] = MappingProxyType(
    {
        "cniVersion": "1.0.0",
        "name": "default-restricted",
        "type": "ptp",
        "ipMasq": False,
        "ipam": {"type": "host-local", "subnet": "172.31.0.0/16"},
    }
)
_BUILTIN_FILES = (
    ("99-default.conf", BUILTIN_DEFAULT),
    ("99-default-restricted.conf", BUILTIN_DEFAULT_RESTRICTED),
)

# CNI spec 1.0.0, "Network configuration format": the name must be usable in file names.
_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.\-]*\Z")
# Names --net gives a meaning of its own; no network file may take them.
SPECIAL_NAMES = frozenset({"all", "host", "none"})


class NetworkConfig(msgspec.Struct, frozen=True):
    """One network: a ``.conf`` (a single plugin) or a ``.conflist`` (a chain of plugins).

    ``plugins`` are the plugin objects as written; :meth:`plugin_config` builds what a plugin
    reads on stdin. ``raw`` is the file's bytes, which stage0 copies into the pod directory so
    that a later DEL uses the configuration the pod was set up with.
    """

    name: str
    cni_version: str
    plugins: tuple[Mapping[str, Any], ...]
    source: str  # the file path, or "builtin:<file>" for the built-ins
    raw: bytes
    is_list: bool = False
    disable_check: bool = False

    @property
    def filename(self) -> str:
        return self.source.rpartition("/")[2].rpartition(":")[2]

    @property
    def type(self) -> str:
        """The first plugin's type; rkt's ``pluginPath`` in net-info.json names its binary."""
        return str(self.plugins[0]["type"])

    def plugin_config(
        self,
        index: int,
        prev_result: Mapping[str, Any] | None = None,
        runtime_config: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """The stdin of plugin ``index`` (CNI spec 1.0.0, "Deriving execution configuration")."""
        conf: dict[str, Any] = json.loads(json.dumps(dict(self.plugins[index])))  # a deep copy
        conf["name"] = self.name
        conf["cniVersion"] = self.cni_version
        if prev_result is not None:
            conf["prevResult"] = dict(prev_result)
        capabilities = conf.get("capabilities")
        if runtime_config and isinstance(capabilities, dict):
            # Only what the plugin declared it can take (spec: "capabilities" and runtimeConfig).
            wanted = {k: v for k, v in runtime_config.items() if capabilities.get(k) is True}
            if wanted:
                conf["runtimeConfig"] = wanted
        return conf


def _fail(source: str, what: str) -> ConfigError:
    return ConfigError(f"{source}: {what}")


def _check_name(source: str, name: object) -> str:
    if not isinstance(name, str) or not name:
        raise _fail(source, 'field "name": expected a non-empty string')
    if not _NAME.match(name):
        raise _fail(source, f'field "name": {name!r} has characters other than [a-zA-Z0-9_.-]')
    if name in SPECIAL_NAMES:
        raise _fail(source, f'field "name": {name!r} is reserved by --net')
    return name


def _check_plugin(source: str, where: str, plugin: object) -> Mapping[str, Any]:
    if not isinstance(plugin, dict):
        raise _fail(source, f"{where}expected a JSON object")
    kind = plugin.get("type")
    if not isinstance(kind, str) or not kind or "/" in kind or kind.startswith("."):
        raise _fail(source, f'{where}field "type": expected a plugin binary name')
    return MappingProxyType(plugin)


def parse_network(data: bytes, source: str) -> NetworkConfig:
    """Parse a ``.conf`` or (by the ``.conflist`` suffix of ``source``) a ``.conflist``."""
    try:
        doc = jsondoc.loads(data)
    except ValueError as err:
        raise _fail(source, f"invalid JSON: {err}") from err
    if not isinstance(doc, dict):
        raise _fail(source, "expected a JSON object")
    name = _check_name(source, doc.get("name"))
    # libcni reads a missing cniVersion as "0.1.0"; rkt's old built-ins had none.
    version = doc.get("cniVersion", "0.1.0")
    if not isinstance(version, str) or not version:
        raise _fail(source, 'field "cniVersion": expected a version string')
    if not source.endswith(".conflist"):
        plugin = _check_plugin(source, "", doc)
        return NetworkConfig(name, version, (plugin,), source, data)
    plugins = doc.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise _fail(source, 'field "plugins": expected a non-empty list of plugin objects')
    checked = tuple(
        _check_plugin(source, f'field "plugins[{i}]": ', p) for i, p in enumerate(plugins)
    )
    disable = doc.get("disableCheck", False)
    if not isinstance(disable, bool):
        raise _fail(source, 'field "disableCheck": expected true or false')
    return NetworkConfig(name, version, checked, source, data, True, disable)


#: In a net.d directory: an IPv6 subnet that makes the built-in ``default`` dual-stack.
DEFAULT_IPV6_FILE = "default.ipv6"


def dual_stack(doc: Mapping[str, Any], subnet: str) -> dict[str, Any]:
    """The built-in ``doc`` with host-local's range set for IPv6 ``subnet`` next to its IPv4
    one, and a ``::/0`` route where it routes ``0.0.0.0/0`` (CNI host-local ``ranges``)."""
    plain: dict[str, Any] = json.loads(json.dumps(dict(doc)))
    ipam = plain["ipam"]
    routes = ipam.get("routes") or []
    ipam["ranges"] = [[{"subnet": ipam.pop("subnet")}], [{"subnet": subnet}]]
    if any(r.get("dst") == "0.0.0.0/0" for r in routes):
        routes = [*routes, {"dst": "::/0"}]
    if routes:
        ipam["routes"] = routes
    return plain


def builtin_networks(ipv6_subnet: str | None = None) -> dict[str, NetworkConfig]:
    """rkt's built-ins; with ``ipv6_subnet``, ``default`` is dual-stack (:func:`dual_stack`)."""
    result = {}
    for filename, doc in _BUILTIN_FILES:
        if ipv6_subnet and doc is BUILTIN_DEFAULT:
            doc = dual_stack(doc, ipv6_subnet)
        raw = json.dumps(dict(doc), indent=1).encode()
        result[doc["name"]] = parse_network(raw, f"builtin:{filename}")
    return result


def read_default_ipv6(dirs: ConfigDirs) -> str | None:
    """The IPv6 subnet of ``net.d/default.ipv6`` (the local config dir's over the system's).

    The built-in ``default`` is IPv4-only, as in rkt. A host-wide file rather than a ``--net``
    argument (those are the plugins' ``CNI_ARGS``) or a ``rkt run`` flag: every pod on one
    network must share its IPAM configuration and lease directory, which is also how podman
    (containers.conf) and Docker (daemon.json ``fixed-cidr-v6``) configure theirs.
    """
    import ipaddress

    for directory in (dirs.local, dirs.system):
        path = directory / "net.d" / DEFAULT_IPV6_FILE
        try:
            text = path.read_text(encoding="utf-8").strip()
        except (FileNotFoundError, NotADirectoryError):
            continue
        except (OSError, UnicodeDecodeError) as err:
            raise ConfigError(f"{path}: cannot read: {err}") from err
        try:
            subnet = ipaddress.IPv6Network(text)
        except ValueError as err:
            raise ConfigError(
                f"{path}: {text!r} is not an IPv6 subnet: {err}",
                hint="write one subnet, e.g. fd52:6b74:1::/64",
            ) from err
        if subnet.prefixlen > 120:
            raise ConfigError(f"{path}: {subnet} is too small for pods", hint="use a /64")
        return str(subnet)
    return None


def _load_dir(folder: Path) -> dict[str, NetworkConfig]:
    try:
        names = sorted(os.listdir(folder))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as err:
        raise ConfigError(f"{folder}: cannot list: {err.strerror}") from err
    found: dict[str, NetworkConfig] = {}
    for filename in names:
        if not filename.endswith((".conf", ".conflist")):
            continue
        path = folder / filename
        if path.is_dir():
            continue
        try:
            data = path.read_bytes()
        except OSError as err:
            raise ConfigError(f"{path}: cannot read: {err.strerror}") from err
        network = parse_network(data, str(path))
        # rkt: the first file of a directory wins; a duplicate is ignored, not an error.
        found.setdefault(network.name, network)
    return found


def load_networks(
    dirs: ConfigDirs, *, builtins: Mapping[str, NetworkConfig] | None = None
) -> dict[str, NetworkConfig]:
    """Every network by name, in the order rkt applies them (lexical by file name)."""
    merged = dict(builtin_networks(read_default_ipv6(dirs)) if builtins is None else builtins)
    for directory in (dirs.system, dirs.local):
        merged.update(_load_dir(directory / "net.d"))
    return dict(sorted(merged.items(), key=lambda item: (item[1].filename, item[0])))


class NetList(msgspec.Struct, frozen=True):
    """The parsed ``--net`` flags: network name to its ``CNI_ARGS`` (``""`` for none)."""

    entries: Mapping[str, str] = msgspec.field(default_factory=lambda: MappingProxyType({}))

    def names(self) -> list[str]:
        # rkt: no --net at all means --net=default.
        return list(self.entries) or ["default"]

    def specific(self, name: str) -> bool:
        return name in self.names()

    def args(self, name: str) -> str:
        return self.entries.get(name, "")

    @property
    def host(self) -> bool:
        return self.specific("host")

    @property
    def none(self) -> bool:
        return self.specific("none")

    @property
    def all(self) -> bool:
        return self.specific("all")

    @property
    def contained(self) -> bool:
        """Whether the pod gets a network namespace of its own."""
        return not self.host


def _check_args(name: str, args: str) -> None:
    for pair in args.split(";"):
        key, eq, _ = pair.partition("=")
        if not eq or not key:
            raise ConfigError(
                f"--net: network {name!r}: argument {pair!r} is not KEY=VALUE",
                hint="write --net=name:K=V;K2=V2",
            )


def parse_net_list(values: Iterable[str]) -> NetList:
    """Parse ``--net`` values as rkt's ``NetList.Set`` does, one call per flag occurrence.

    ``--net=default,mynet:IP=10.1.2.3;FOO=bar``: comma-separated names, each with optional
    ``:``-separated CNI_ARGS; no empty or duplicate names; no arguments for ``all``, ``host``
    or ``none``; ``host`` and ``none`` stand alone.
    """
    entries: dict[str, str] = {}
    for value in values:
        for item in value.split(","):
            name, colon, args = item.partition(":")
            if not name:
                raise ConfigError(f"--net: empty network name in {value!r}")
            if name in entries:
                raise ConfigError(f"--net: network {name!r} given twice")
            if ":" in args:
                raise ConfigError(f"--net: network {name!r}: invalid arguments {args!r}")
            if colon and name in SPECIAL_NAMES:
                raise ConfigError(f"--net: {name!r} takes no arguments")
            if colon:
                _check_args(name, args)
            entries[name] = args
    for alone in ("host", "none"):
        if alone in entries and len(entries) > 1:
            raise ConfigError(f"--net={alone} cannot be combined with other networks")
    return NetList(MappingProxyType(entries))


def select_networks(
    available: Mapping[str, NetworkConfig], net_list: NetList
) -> Sequence[NetworkConfig]:
    """The networks a pod joins, in application order; none for ``host`` and ``none``.

    rkt 1.30 adds no network the user did not name (``default-restricted`` is no longer added
    implicitly); ``all`` means every configured network, built-ins included.
    """
    if net_list.host or net_list.none:
        return []
    wanted = [n for n in net_list.names() if n != "all"]
    missing = [n for n in wanted if n not in available]
    if missing:
        raise ConfigError(f"networks not found: {', '.join(missing)}")
    return [n for name, n in available.items() if net_list.all or name in wanted]
