"""CNI results, typed (CNI spec 1.0.0, "Success"), with the plugin's JSON kept for chaining.

Results of cniVersion 0.3.0 and later share the 1.0.0 shape (``interfaces``, ``ips``,
``routes``, ``dns``); 0.1.0/0.2.0 results (``ip4``/``ip6`` objects) are read into it too, so a
user's old ``.conf`` still yields an address for net-info.json.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

import msgspec

from rkt.errors import NetworkError

__all__ = ["DNS", "IPConfig", "Interface", "Result", "Route", "parse_result"]

IPInterface = ipaddress.IPv4Interface | ipaddress.IPv6Interface
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network


class Interface(msgspec.Struct, frozen=True):
    name: str
    mac: str = ""
    sandbox: str = ""  # the netns path for interfaces in the pod, "" for the host's


class IPConfig(msgspec.Struct, frozen=True):
    address: IPInterface
    gateway: IPAddress | None = None
    interface: int | None = None  # index into Result.interfaces


class Route(msgspec.Struct, frozen=True):
    dst: IPNetwork
    gw: IPAddress | None = None


class DNS(msgspec.Struct, frozen=True):
    nameservers: tuple[str, ...] = ()
    domain: str = ""
    search: tuple[str, ...] = ()
    options: tuple[str, ...] = ()


class Result(msgspec.Struct, frozen=True):
    cni_version: str
    interfaces: tuple[Interface, ...]
    ips: tuple[IPConfig, ...]
    routes: tuple[Route, ...]
    dns: DNS
    raw: Mapping[str, Any]  # as the plugin printed it: the next plugin's prevResult

    def pod_ips(self) -> tuple[IPConfig, ...]:
        """The addresses on interfaces inside the pod (those with a sandbox), else all."""
        inside = tuple(
            ip
            for ip in self.ips
            if ip.interface is not None
            and 0 <= ip.interface < len(self.interfaces)
            and self.interfaces[ip.interface].sandbox
        )
        return inside or self.ips


def _str(doc: Mapping[str, Any], key: str, where: str) -> str:
    value = doc.get(key, "")
    if not isinstance(value, str):
        raise NetworkError(f"{where}: field {key!r} is not a string")
    return value


def _strs(doc: Mapping[str, Any], key: str, where: str) -> tuple[str, ...]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise NetworkError(f"{where}: field {key!r} is not a list of strings")
    return tuple(value)


def _objects(doc: Mapping[str, Any], key: str, where: str) -> list[Mapping[str, Any]]:
    value = doc.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise NetworkError(f"{where}: field {key!r} is not a list of objects")
    return value


def _routes(items: list[Mapping[str, Any]], where: str) -> list[Route]:
    routes = []
    for r in items:
        gw = r.get("gw")
        routes.append(
            Route(
                ipaddress.ip_network(_str(r, "dst", where), strict=False),
                ipaddress.ip_address(gw) if gw else None,
            )
        )
    return routes


def _legacy(doc: Mapping[str, Any], where: str) -> tuple[list[IPConfig], list[Route]]:
    ips: list[IPConfig] = []
    routes: list[Route] = []
    for key in ("ip4", "ip6"):
        block = doc.get(key)
        if not isinstance(block, dict):
            continue
        gw = block.get("gateway")
        ips.append(
            IPConfig(
                ipaddress.ip_interface(_str(block, "ip", where)),
                ipaddress.ip_address(gw) if gw else None,
            )
        )
        routes += _routes(_objects(block, "routes", where), where)
    return ips, routes


def parse_result(doc: object, where: str = "result") -> Result:
    """A :class:`Result` from a plugin's parsed stdout; :class:`NetworkError` if malformed."""
    if not isinstance(doc, dict):
        raise NetworkError(f"{where}: expected a JSON object")
    try:
        interfaces = tuple(
            Interface(_str(i, "name", where), _str(i, "mac", where), _str(i, "sandbox", where))
            for i in _objects(doc, "interfaces", where)
        )
        ips: list[IPConfig] = []
        for item in _objects(doc, "ips", where):
            gw = item.get("gateway")
            index = item.get("interface")
            if index is not None and not isinstance(index, int):
                raise NetworkError(f"{where}: field 'interface' is not an integer")
            ips.append(
                IPConfig(
                    ipaddress.ip_interface(_str(item, "address", where)),
                    ipaddress.ip_address(gw) if gw else None,
                    index,
                )
            )
        routes = _routes(_objects(doc, "routes", where), where)
        old_ips, old_routes = _legacy(doc, where)
        dns_doc = doc.get("dns")
        dns_doc = {} if dns_doc is None else dns_doc
        if not isinstance(dns_doc, dict):
            raise NetworkError(f"{where}: field 'dns' is not an object")
        dns = DNS(
            _strs(dns_doc, "nameservers", where),
            _str(dns_doc, "domain", where),
            _strs(dns_doc, "search", where),
            _strs(dns_doc, "options", where),
        )
    except ValueError as err:  # a malformed address or network
        raise NetworkError(f"{where}: {err}") from err
    return Result(
        _str(doc, "cniVersion", where),
        interfaces,
        tuple(ips + old_ips),
        tuple(routes + old_routes),
        dns,
        doc,
    )
