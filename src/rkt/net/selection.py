"""Which networks a pod joins, chosen at prepare time and saved in the pod (rkt.net.pod
sets them up at run time).

``rkt run``/``prepare`` (:func:`select` and :func:`save_selection`): the networks are chosen
from net.d while the flags and config dirs are at hand, so a bad ``--net`` fails before any pod
exists; each network's bytes go to ``<pod>/net/conf/`` and the list (with each network's
``CNI_ARGS``) to ``<pod>/net/networks.json``. Only configuration is read here, so this runs
without the CNI client's imports (subprocess and the rest), which stage0 loads once stage1 is
on its way.

Port forwarding (``rkt run --port=NAME:[HOSTIP:]HOSTPORT``, :func:`forward_ports`): the ports go
to one network, as in rkt (``GetForwardableNet``): the first with ``ipMasq``, else the last one.
Unless its chain already has a plugin taking ``portMappings``, the CNI ``portmap`` plugin is
appended to it (a ``.conf`` becomes a ``.conflist``) with ``"snat": true``, and the mappings
are given to it as runtimeConfig, for ADD and (from the CNI cache) for DEL, which removes the
rules. portmap's DNAT rules hook ``PREROUTING`` and ``OUTPUT`` (so the host itself reaches the
pod through any of its addresses, 127.0.0.1 included); for 127.0.0.1 it sets
``net.ipv4.conf.<host end of the veth>.route_localnet=1`` (that interface goes with the pod)
and its SNAT masquerades the connections coming from 127.0.0.1, which the pod could not answer.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rkt import jsondoc
from rkt.atomicfile import write_atomically
from rkt.config import ConfigDirs
from rkt.errors import ConfigError, NetworkError
from rkt.net.config import NetList, NetworkConfig, load_networks, parse_net_list, parse_network
from rkt.net.files import CONF_DIR, NETWORKS_FILE

__all__ = [
    "PORTMAP",
    "Selected",
    "forward_ports",
    "load_selection",
    "save_selection",
    "select",
    "with_portmap",
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
    write_atomically(path, json.dumps(doc, indent=1).encode(), durable=False)


def load_selection(
    pod_dir: Path,
) -> list[tuple[NetworkConfig, str, Path, Mapping[str, Any] | None]]:
    path = pod_dir / NETWORKS_FILE
    try:
        doc = jsondoc.loads(path.read_bytes())
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
