"""A pod's networks, from ``--net`` to teardown: the glue between stage0, stage1 and gc.

- ``rkt run`` (prepare time, :func:`select` and :func:`save_selection`): the networks are chosen
  from net.d while the flags and config dirs are at hand, so a bad ``--net`` fails before any
  pod exists; each network's bytes go to ``<pod>/net/conf/`` and the list (with each network's
  ``CNI_ARGS``) to ``<pod>/net/networks.json``.
- ``rkt run`` (run time, stage0, pod in ``run/`` and locked, before stage1 starts,
  :func:`setup`): the namespace file ``<pod>/netns`` is created and every network ADDed
  (``eth0``, ``eth1``, ...; the CNI cache in ``<pod>/net/cache``), then ``net-info.json`` is
  written. The plugins do the kernel work in processes of their own; stage1 only joins the file.
- gc/rm (:func:`teardown`, from stage1's gc): DEL of every cached attachment, newest first, with
  the namespace's *current* path (the pod directory has moved to ``exited-garbage/`` since the
  ADD, and ptp's ipMasq teardown needs the namespace), then the namespace file is removed.

Port forwarding (``rkt run --port=NAME:[HOSTIP:]HOSTPORT``, :func:`forward_ports`): the ports go
to one network, as in rkt (``GetForwardableNet``): the first with ``ipMasq``, else the last one.
Unless its chain already has a plugin taking ``portMappings``, the CNI ``portmap`` plugin is
appended to it (a ``.conf`` becomes a ``.conflist``) with ``"snat": true``, and the mappings
are given to it as runtimeConfig, for ADD and (from the CNI cache) for DEL, which removes the
rules. portmap's DNAT rules hook ``PREROUTING`` and ``OUTPUT`` (so the host itself reaches the
pod through any of its addresses, 127.0.0.1 included); for 127.0.0.1 it sets
``net.ipv4.conf.<host end of the veth>.route_localnet=1`` (that interface goes with the pod)
and its SNAT masquerades the connections coming from 127.0.0.1, which the pod could not answer.

IPv6: networks are dual-stack when their host-local IPAM has an IPv6 range next to the IPv4 one
(``"ranges": [[{"subnet": "172.29.7.0/24"}], [{"subnet": "fd00:1:2:3::/64"}]]``, routes
``0.0.0.0/0`` and ``::/0``). ptp then enables IPv6 forwarding on the host
(``net.ipv6.conf.all.forwarding=1``), as it does ``net.ipv4.ip_forward`` for IPv4. The built-in
``default`` stays IPv4-only: a dual-stack default is a user ``default`` in net.d.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from rkt.config import ConfigDirs
from rkt.errors import ConfigError, NetworkError
from rkt.net import netinfo, netns
from rkt.net.cni import Attachment, Client
from rkt.net.config import NetList, NetworkConfig, load_networks, parse_net_list, parse_network
from rkt.net.result import DNS

__all__ = [
    "CACHE_DIR",
    "CONF_DIR",
    "NETNS",
    "NETWORKS_FILE",
    "PORTMAP",
    "Selected",
    "dns",
    "forward_ports",
    "has_networks",
    "save_selection",
    "select",
    "setup",
    "sweep_ipmasq",
    "teardown",
]

NETNS = "netns"
CONF_DIR = "net/conf"
CACHE_DIR = "net/cache"
NETWORKS_FILE = "net/networks.json"

Selected = tuple[NetworkConfig, str]  # a network and its CNI_ARGS
#: The plugin appended to the forwarding network's chain when the pod has ports to forward.
PORTMAP: dict[str, Any] = {"type": "portmap", "snat": True, "capabilities": {"portMappings": True}}


def select(dirs: ConfigDirs, net: str) -> tuple[NetList, list[Selected]]:
    """Parse ``--net`` and pick the pod's networks from net.d (none for ``host``/``none``)."""
    from rkt.net.config import select_networks

    net_list = parse_net_list([net])
    if net_list.host or net_list.none:
        return net_list, []
    chosen = select_networks(load_networks(dirs), net_list)
    return net_list, [(n, net_list.args(n.name)) for n in chosen]


def _takes_port_mappings(network: NetworkConfig) -> bool:
    for plugin in network.plugins:
        capabilities = plugin.get("capabilities")
        if isinstance(capabilities, dict) and capabilities.get("portMappings") is True:
            return True
    return False


def with_portmap(network: NetworkConfig) -> NetworkConfig:
    """``network`` with :data:`PORTMAP` at the end of its chain, unless a plugin of the chain
    already takes ``portMappings`` (a user conflist with its own portmap)."""
    if _takes_port_mappings(network):
        return network
    plugins = []
    for plugin in network.plugins:
        plain = json.loads(json.dumps(dict(plugin)))
        if not network.is_list:
            plain.pop("name", None)
            plain.pop("cniVersion", None)
        plugins.append(plain)
    doc: dict[str, Any] = {
        "cniVersion": network.cni_version,
        "name": network.name,
        "plugins": [*plugins, PORTMAP],
    }
    if network.disable_check:
        doc["disableCheck"] = True
    base = network.source.removesuffix(".conflist").removesuffix(".conf")
    return parse_network(json.dumps(doc, indent=1).encode(), base + ".conflist")


def forward_ports(
    selected: Sequence[Selected], mappings: Sequence[Mapping[str, Any]]
) -> tuple[list[Selected], int]:
    """The networks with portmap in the forwarding one's chain, and that network's index.

    rkt's ``GetForwardableNet``: the first network with ``ipMasq``, else the last. ``mappings``
    are CNI ``portMappings``; without any, the selection is returned as it is (index -1).
    """
    if not mappings or not selected:
        return list(selected), -1
    masq = [i for i, (n, _) in enumerate(selected) if n.plugins[0].get("ipMasq") is True]
    index = masq[0] if masq else len(selected) - 1
    chosen = list(selected)
    network, args = chosen[index]
    chosen[index] = (with_portmap(network), args)
    return chosen, index


def save_selection(
    pod_dir: Path,
    selected: Sequence[Selected],
    port_mappings: Sequence[Mapping[str, Any]] = (),
) -> None:
    """Copy the networks' configurations into the pod and list them for :func:`setup`.

    With ``port_mappings``, the forwarding network (:func:`forward_ports`) gets portmap and
    the mappings as its ``runtimeConfig``.
    """
    selected, forwarding = forward_ports(selected, port_mappings)
    conf_dir = pod_dir / CONF_DIR
    conf_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    entries = []
    for index, (network, args) in enumerate(selected):
        # The prefix keeps the application order; the suffix tells .conf from .conflist.
        suffix = ".conflist" if network.is_list else ".conf"
        name = f"{index:02d}-{network.name}{suffix}"
        (conf_dir / name).write_bytes(network.raw)
        entry: dict[str, Any] = {"name": network.name, "conf": f"{CONF_DIR}/{name}", "args": args}
        if index == forwarding:
            entry["runtimeConfig"] = {"portMappings": [dict(m) for m in port_mappings]}
        entries.append(entry)
    _write_json(pod_dir / NETWORKS_FILE, entries)


def _write_json(path: Path, doc: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1))
    os.replace(tmp, path)


def _load_selection(
    pod_dir: Path,
) -> list[tuple[NetworkConfig, str, Path, Mapping[str, Any] | None]]:
    path = pod_dir / NETWORKS_FILE
    try:
        doc = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as err:
        raise NetworkError(f"{path}: unreadable: {err}") from err
    found: list[tuple[NetworkConfig, str, Path, Mapping[str, Any] | None]] = []
    for entry in doc if isinstance(doc, list) else []:
        conf = pod_dir / str(entry["conf"])
        try:
            network = parse_network(conf.read_bytes(), str(conf))
        except (OSError, ConfigError) as err:
            raise NetworkError(f"{conf}: cannot load network {entry.get('name')!r}: {err}") from err
        runtime = entry.get("runtimeConfig")
        found.append(
            (
                network,
                str(entry.get("args") or ""),
                conf,
                runtime if isinstance(runtime, dict) else None,
            )
        )
    return found


def has_networks(pod_dir: Path) -> bool:
    return (pod_dir / NETWORKS_FILE).exists()


def setup(pod_dir: Path, uuid: str, client: Client | None = None) -> list[netinfo.NetInfo]:
    """Create ``<pod>/netns`` and ADD the saved networks; write ``net-info.json``.

    Nothing to do (``[]``) for a pod without saved networks (``--net=none``/``host``). If an ADD
    fails, what was added is DELeted and the namespace removed before the error is raised.
    """
    selection = _load_selection(pod_dir)
    if not selection:
        return []
    client = client or Client(pod_dir / CACHE_DIR)
    path = pod_dir / NETNS
    infos = []
    try:
        netns.create(path)
        for index, (network, args, conf, runtime) in enumerate(selection):
            ifname = f"eth{index}"
            result = client.add(network, uuid, str(path), ifname, args, runtime)
            plugin = client.find_plugin(network.type)
            infos.append(netinfo.from_result(network.name, conf, plugin, ifname, args, result))
        netinfo.save(pod_dir, infos)
    except BaseException:
        teardown(pod_dir, uuid, client)
        raise
    return infos


def teardown(pod_dir: Path, uuid: str, client: Client | None = None) -> list[str]:
    """DEL every cached attachment (newest first), then remove ``<pod>/netns``; the errors.

    Tolerant of a crash at any point: the cache is written before each ADD, a namespace that
    is gone is passed to the plugins as ``CNI_NETNS=""``, and a failed DEL keeps its cache entry.
    """
    client = client or Client(pod_dir / CACHE_DIR)
    path = pod_dir / NETNS
    errors: list[str] = []
    try:
        entries = client.attachments(uuid)
    except NetworkError as err:
        entries = []
        errors.append(str(err))
    for entry in reversed(entries):
        try:
            # The namespace's path today, not the one cached at ADD time: the pod has moved.
            client.delete(entry.network, uuid, str(path), entry.ifname, entry.args)
        except NetworkError as err:
            errors.append(str(err))
        errors.extend(sweep_ipmasq(entry))
    try:
        netns.remove(path)
    except OSError as err:
        errors.append(f"cannot remove {path}: {err}")
    return errors


def sweep_ipmasq(entry: Attachment) -> list[str]:
    """Remove the NAT rules ptp/bridge made for ``ipMasq`` from the cached result's addresses.

    ptp (1.1.1) and bridge tear their MASQUERADE rules down only for addresses they still find
    in the namespace, so after a crash that lost the namespace the rules would stay forever.
    The rules are found as the plugins name them (``utils.FormatChainName``/``FormatComment``);
    rules that are already gone are no error. The errors of the removals that were attempted.
    """
    plugin = entry.network.plugins[0]
    if not plugin.get("ipMasq") or entry.result is None:
        return []
    name, cid = entry.network.name, entry.container_id
    chain = "CNI-" + hashlib.sha512((name + cid).encode()).hexdigest()[:24]
    comment = f'name: "{name}" id: "{cid}"'
    errors: list[str] = []
    for ip in entry.result.pod_ips():
        v6 = ip.address.version == 6
        tool = "ip6tables" if v6 else "iptables"
        source = f"{ip.address.ip}/{128 if v6 else 32}"
        rule = ["-s", source, "-m", "comment", "--comment", comment, "-j", chain]
        for args in (["-D", "POSTROUTING", *rule], ["-F", chain], ["-X", chain]):
            try:
                subprocess.run(
                    [tool, "-w", "5", "-t", "nat", *args],
                    capture_output=True,
                    timeout=30,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as err:
                errors.append(f"{tool} {' '.join(args)}: {err}")
    return errors


def dns(pod_dir: Path, uuid: str) -> DNS:
    """The pod's DNS settings from its networks' results (rkt: used when ``--dns`` is unset)."""
    merged = DNS()
    try:
        entries = Client(pod_dir / CACHE_DIR).attachments(uuid)
    except NetworkError:
        return merged
    for entry in entries:
        if entry.result is None:
            continue
        got = entry.result.dns
        merged = replace(
            merged,
            nameservers=merged.nameservers + tuple(n for n in got.nameservers if n),
            domain=merged.domain or got.domain,
            search=merged.search + got.search,
            options=merged.options + got.options,
        )
    return merged
