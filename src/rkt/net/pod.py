"""A pod's networks, from ``--net`` to teardown: the glue between stage0, stage1 and gc.

- ``rkt run`` (prepare time, :func:`select` and :func:`save_selection`): the networks are chosen
  from net.d while the flags and config dirs are at hand, so a bad ``--net`` fails before any
  pod exists; each network's bytes go to ``<pod>/net/conf/`` and the list (with each network's
  ``CNI_ARGS``) to ``<pod>/net/networks.json``.
- ``rkt run`` (run time, stage0, pod in ``run/`` and locked, before stage1 starts,
  :func:`setup`): the namespace file ``<pod>/netns`` is created and every network ADDed
  (``eth0``, ``eth1``, ...; the CNI cache in ``<pod>/net/cache``), then ``net-info.json`` is
  written. The plugins do the kernel work in processes of their own; stage1 only joins the file.
- pod exit (:func:`teardown`; by ``rkt run`` as stage1 exits, else ``rkt stop``, else gc/rm
  through stage1's gc, see :mod:`rkt.stage0.netdown`): DEL of every cached attachment, newest
  first, with the namespace's *current* path (the pod directory may have moved to
  ``exited-garbage/`` since the ADD) or none at all (the fast path, :data:`NETNS_FREE_DEL`),
  then the namespace file is removed. ``net-info.json`` stays.

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
``default`` is IPv4-only unless ``net.d/default.ipv6`` names an IPv6 subnet
(:func:`rkt.net.config.read_default_ipv6`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from msgspec.structs import replace

from rkt.config import ConfigDirs
from rkt.errors import ConfigError, NetworkError
from rkt.net import masquerade, netinfo, netns
from rkt.net.cni import Attachment, Client
from rkt.net.config import NetList, NetworkConfig, load_networks, parse_net_list, parse_network
from rkt.net.files import CACHE_DIR, CONF_DIR, NETNS, NETWORKS_FILE, has_networks, needs_teardown
from rkt.net.result import DNS

__all__ = [
    "CACHE_DIR",
    "CONF_DIR",
    "NETNS",
    "NETWORKS_FILE",
    "PORTMAP",
    "Selected",
    "create_namespace",
    "dns",
    "forward_ports",
    "has_networks",
    "needs_teardown",
    "release_idle",
    "save_selection",
    "select",
    "setup",
    "teardown",
]


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


def create_namespace(pod_dir: Path) -> None:
    """Create ``<pod>/netns`` unless it is there: stage0 makes it before it forks stage1, which
    joins it while :func:`setup` ADDs the networks to it."""
    path = pod_dir / NETNS
    if not netns.is_netns(path):
        netns.create(path)


def setup(
    pod_dir: Path, uuid: str, client: Client | None = None, *, undo: bool = True
) -> list[netinfo.NetInfo]:
    """Create ``<pod>/netns`` (:func:`create_namespace`) and ADD the saved networks; write
    ``net-info.json``.

    Nothing to do (``[]``) for a pod without saved networks (``--net=none``/``host``). If an ADD
    fails, what was added is DELeted and the namespace removed before the error is raised;
    ``undo=False`` leaves that to the caller's :func:`teardown` (stage0, once stage1, which may
    be joining the namespace, has given up).
    """
    selection = _load_selection(pod_dir)
    if not selection:
        return []
    client = client or Client(pod_dir / CACHE_DIR)
    path = pod_dir / NETNS
    infos = []
    try:
        create_namespace(pod_dir)
        for index, (network, args, conf, runtime) in enumerate(selection):
            ifname = f"eth{index}"
            ours = masquerade.take_over(network)
            result = client.add(ours or network, uuid, str(path), ifname, args, runtime)
            if ours is not None and masquerade.mode(ours) == masquerade.PER_NETWORK:
                masquerade.ensure(ours)
            elif ours is not None:
                masquerade.add_for_pod(network.name, uuid, result)
            plugin = client.find_plugin(network.type)
            infos.append(netinfo.from_result(network.name, conf, plugin, ifname, args, result))
        netinfo.save(pod_dir, infos)
    except BaseException:
        if undo:
            teardown(pod_dir, uuid, client)
        raise
    return infos


#: Plugins whose DEL needs nothing inside the pod's namespace: what they made there (veths,
#: addresses, routes) goes with the namespace, and what they made on the host (leases, NAT and
#: filter rules, ifb devices) they find from the container id and ``prevResult``. A network
#: made only of these is DELeted with ``CNI_NETNS=""`` once its pod has exited (see
#: :func:`teardown`); any other plugin (dhcp, a third party's) gets the namespace as usual.
NETNS_FREE_DEL = frozenset({"ptp", "bridge", "host-local", "static", "portmap", "firewall",
                            "bandwidth"})  # fmt: skip


def teardown(pod_dir: Path, uuid: str, client: Client | None = None) -> list[str]:
    """DEL every cached attachment (newest first), then remove ``<pod>/netns``; the errors.

    For a pod that has *exited* only (stage0 after stage1, ``rkt stop`` and gc, each holding
    the pod's lock): nothing of the pod runs in the namespace any more. Idempotent: a DEL that
    succeeded removed its cache entry, so a second call finds nothing to DEL; ``net-info.json``
    stays for ``rkt status``/``list``.

    Tolerant of a crash at any point: the cache is written before each ADD, a namespace that
    is gone is passed to the plugins as ``CNI_NETNS=""``, and a failed DEL keeps its cache entry.

    Fast path: networks made only of :data:`NETNS_FREE_DEL` plugins are DELeted with
    ``CNI_NETNS=""`` although the namespace is still there. ptp and bridge then skip deleting
    the veth (about 20 ms of netlink under RTNL, measured with bench/net.py) and their ipMasq
    teardown (go-iptables: several iptables execs), which :func:`masquerade.sweep` does in one
    ``iptables-restore``; unmounting the namespace file then lets the kernel destroy the
    namespace, and the veth pair with it, asynchronously. The one cost: the host end of the
    veth (and its /32 route) outlives the released lease by the kernel's cleanup time (tens of
    ms), so a new pod given the same address at once could fail its ADD; host-local hands
    addresses out round-robin, so that needs a nearly full range.
    """
    client = client or Client(pod_dir / CACHE_DIR)
    path = pod_dir / NETNS
    errors: list[str] = []
    try:
        entries = client.attachments(uuid)
    except NetworkError as err:
        entries = []
        errors.append(str(err))
    alive = netns.is_netns(path)
    for entry in reversed(entries):
        fast = all(str(p.get("type")) in NETNS_FREE_DEL for p in entry.network.plugins)
        # The namespace's path today, not the one cached at ADD time: the pod has moved.
        given = str(path) if alive and not fast else ""
        sweeps = masquerade.needs_sweep(entry)
        sweeper = None
        if sweeps and not given:
            # The sweep's nf_tables commit (10-30 ms, mostly the kernel's) and the plugins'
            # DEL touch different things: run them side by side.
            sweeper = _Sweeper(entry)
        try:
            client.delete(entry.network, uuid, given, entry.ifname, entry.args)
        except NetworkError as err:
            errors.append(str(err))
            if sweeps and sweeper is None:  # the plugin may have stopped before its own
                errors.extend(masquerade.sweep(entry))
        else:
            if sweeper is None and masquerade.mode(entry.network) is True:
                errors.extend(masquerade.sweep(entry))  # ptp left these rules to us
        if sweeper is not None:
            errors.extend(sweeper.join())
    try:
        netns.remove(path)
    except OSError as err:
        errors.append(f"cannot remove {path}: {err}")
    return errors


class _Sweeper:
    """:func:`masquerade.sweep` in a thread (its time is spent waiting on iptables-restore)."""

    def __init__(self, entry: Attachment) -> None:
        import threading

        self.errors: list[str] = []
        self.thread = threading.Thread(target=self._run, args=(entry,), daemon=True)
        self.thread.start()

    def _run(self, entry: Attachment) -> None:
        try:
            self.errors = masquerade.sweep(entry)
        except Exception as err:  # reported with the teardown's other errors
            self.errors = [f"ipMasq sweep: {err}"]

    def join(self) -> list[str]:
        self.thread.join()
        return self.errors


def release_idle(pod_dir: Path) -> list[str]:
    """``rkt gc`` of the pod: remove the masquerading of its networks that no pod is on any
    more (:func:`masquerade.release_if_idle`); the errors."""
    errors: list[str] = []
    for network, _, _, _ in _load_selection(pod_dir):
        ours = masquerade.take_over(network)
        if ours is not None and masquerade.mode(ours) == masquerade.PER_NETWORK:
            errors += masquerade.release_if_idle(ours)
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
