"""Where a pod's network state lives in its directory, and the questions ``rkt run`` asks of it
on every run (has the pod networks to ADD? could their results carry DNS? anything to DEL?),
answered with the standard library alone so that a pod without CNI networks never imports the
CNI client (rkt.net.pod), and stage1 only does when it needs the results' DNS."""

from __future__ import annotations

import os
from pathlib import Path

from rkt import jsondoc
from rkt.pod import layout

#: the pod's network namespace file (a bind mount of an nsfs file)
NETNS = layout.NETNS
#: the network configs as ADDed, and the CNI result cache the DELs read
CONF_DIR = layout.NET_CONF_DIR
CACHE_DIR = layout.NET_CACHE_DIR
#: the networks ``--net`` selected, saved at prepare
NETWORKS_FILE = layout.NETWORKS


def has_networks(pod_dir: Path) -> bool:
    return (pod_dir / NETWORKS_FILE).exists()


def needs_teardown(pod_dir: Path) -> bool:
    """Whether a teardown has anything to do: a namespace file or a cached attachment (false
    for ``--net=host``/``none``, for fly pods and once a teardown has succeeded)."""
    if os.path.lexists(pod_dir / NETNS):
        return True
    try:
        return any(name.endswith(".json") for name in os.listdir(pod_dir / CACHE_DIR))
    except OSError:
        return False


#: Plugins whose result carries DNS only from their configuration's ``dns`` key (or their IPAM's
#: result): with no such key anywhere in a network, its ADD result has no DNS. Any other plugin
#: (dhcp, a third party's) might return some.
_DNS_FROM_CONFIG = frozenset(
    {"ptp", "bridge", "macvlan", "ipvlan", "host-device", "vlan", "portmap", "firewall"}
    | {"bandwidth", "tuning", "loopback"}
)
#: IPAM plugins and the keys their result's DNS comes from.
_IPAM_DNS_KEYS = {"host-local": ("resolvConf",), "static": ("dns",)}


def may_return_dns(pod_dir: Path) -> bool:
    """Whether the ADD results of the pod's saved networks could carry DNS settings.

    stage1 plans the pod's /etc/resolv.conf from them when no ``--dns`` flag was given, so it
    must wait for the ADDs first; when no network can return any (the built-in ``default``:
    ptp and host-local without ``dns``), it plans and starts while stage0 ADDs. Unreadable or
    unknown configurations count as "could"."""
    try:
        entries = jsondoc.loads((pod_dir / NETWORKS_FILE).read_bytes())
        confs = [str(entry["conf"]) for entry in entries]
    except (OSError, ValueError, TypeError, KeyError):
        return True
    for conf in confs:
        if conf.startswith("/") or ".." in conf.split("/"):
            return True
        try:
            doc = jsondoc.loads((pod_dir / conf).read_bytes())
        except (OSError, ValueError):
            return True
        plugins = doc.get("plugins") if isinstance(doc, dict) and "plugins" in doc else [doc]
        if not isinstance(plugins, list) or any(_plugin_dns(p) for p in plugins):
            return True
    return False


def _plugin_dns(plugin: object) -> bool:
    if not isinstance(plugin, dict) or plugin.get("type") not in _DNS_FROM_CONFIG:
        return True
    if "dns" in plugin:
        return True
    ipam = plugin.get("ipam")
    if ipam is None or ipam == {}:
        return False
    if not isinstance(ipam, dict) or ipam.get("type") not in _IPAM_DNS_KEYS:
        return True
    return any(key in ipam for key in _IPAM_DNS_KEYS[ipam["type"]])
