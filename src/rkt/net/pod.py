"""A pod's networks, from ``--net`` to teardown: the glue between stage0, stage1 and gc.

- ``rkt run`` (prepare time, :mod:`rkt.net.selection`): the networks are chosen from net.d and
  saved in the pod, ports forwarded.
- ``rkt run`` (run time, stage0, pod in ``run/`` and locked, while stage1 starts,
  :func:`setup`): the namespace file ``<pod>/netns`` is created and every network ADDed
  (``eth0``, ``eth1``, ...; the CNI cache in ``<pod>/net/cache``), then ``net-info.json`` is
  written. The plugins do the kernel work in processes of their own; stage1 only joins the file.
- pod exit (:func:`teardown`; by ``rkt run`` as stage1 exits, else ``rkt stop``, else gc/rm
  through stage1's gc, see :mod:`rkt.stage0.netdown`): DEL of every cached attachment, newest
  first, with the namespace's *current* path (the pod directory may have moved to
  ``exited-garbage/`` since the ADD) or none at all (the fast path, :data:`NETNS_FREE_DEL`),
  then the namespace file is removed. ``net-info.json`` stays.

IPv6: networks are dual-stack when their host-local IPAM has an IPv6 range next to the IPv4 one
(``"ranges": [[{"subnet": "172.29.7.0/24"}], [{"subnet": "fd00:1:2:3::/64"}]]``, routes
``0.0.0.0/0`` and ``::/0``). ptp then enables IPv6 forwarding on the host
(``net.ipv6.conf.all.forwarding=1``), as it does ``net.ipv4.ip_forward`` for IPv4. The built-in
``default`` is IPv4-only unless ``net.d/default.ipv6`` names an IPv6 subnet
(:func:`rkt.net.config.read_default_ipv6`).
"""

from __future__ import annotations

from pathlib import Path

from msgspec.structs import replace

from rkt.errors import NetworkError
from rkt.net import localnet, masquerade, netinfo, netns
from rkt.net.cni import Attachment, Client
from rkt.net.files import CACHE_DIR, CONF_DIR, NETNS, NETWORKS_FILE, has_networks, needs_teardown
from rkt.net.result import DNS
from rkt.net.selection import load_selection

__all__ = [
    "CACHE_DIR",
    "CONF_DIR",
    "NETNS",
    "NETWORKS_FILE",
    "create_namespace",
    "dns",
    "has_networks",
    "needs_teardown",
    "release_idle",
    "setup",
    "teardown",
]


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
    selection = load_selection(pod_dir)
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
            ensuring = guarding = None
            if ours is not None and masquerade.mode(ours) == masquerade.PER_NETWORK:
                ensuring = masquerade.Ensuring(ours)  # its iptables run during the ADD
            if localnet.needs_guard(runtime):
                guarding = localnet.Guarding()  # so do the loopback guard's
            try:
                result = client.add(ours or network, uuid, str(path), ifname, args, runtime)
            except BaseException:
                if ensuring is not None:
                    ensuring.abandon()
                if guarding is not None:
                    guarding.abandon()
                raise
            if guarding is not None:
                guarding.finish()
            if ensuring is not None:
                ensuring.finish()
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
    """``rkt gc`` of the pod: remove the masquerading of its ptp networks that no pod is on any
    more (:func:`masquerade.release_if_idle`; also of one whose ipMasq was turned off since
    its chain was made), and the loopback guard of port forwards once no interface needs it
    (:func:`localnet.release_if_unused`); the errors."""
    errors: list[str] = []
    guarded = False
    for network, _, _, runtime in load_selection(pod_dir):
        guarded = guarded or localnet.needs_guard(runtime)
        if network.type == "ptp":
            try:
                errors += masquerade.release_if_idle(network)
            except NetworkError as err:
                errors.append(str(err))
    if guarded:
        errors += localnet.release_if_unused()
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
