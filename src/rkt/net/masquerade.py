"""Masquerading for ptp networks with ``ipMasq``, done by rkt instead of the plugin.

ptp makes NAT rules for each pod with eight runs of iptables at ADD and as many at DEL. rkt
turns the plugin's ``ipMasq`` off (:func:`take_over`, marking the configuration with
:data:`MASQ_BY_RKT`, which plugins ignore) and masquerades in one of two ways:

- **per network** (``"network"``; host-local IPAM, whose subnets are in the configuration):
  one chain for the network's subnets, jumped to from ``POSTROUTING`` for each subnet, the way
  podman's and Docker's bridges masquerade. :class:`Ensuring` makes it if rkt has not (or
  checks it, one ``iptables -C`` per subnet) while the plugin ADDs the pod; pods leave nothing
  to remove when they exit. Removing a rule costs the kernel an RCU grace period (10-30 ms on
  the bench VM, in the exit path of every pod when each had its own), so the chain goes only
  at ``rkt gc`` (:func:`release_if_idle`), once the network's lease directory holds no lease:
  no pod of any rkt data directory is on it any more. Locks in :data:`RUN_DIR` keep gc from
  removing a chain between its check and the lease of the pod that checked it.
- **per pod** (``true``; other IPAMs, and pods ADDed by an older rkt): the rules ptp itself
  would make, named as it names them (:func:`add_for_pod`), in one ``iptables-restore``, and
  removed by :func:`sweep` when the pod's network is torn down.

Either way the rules masquerade what a pod sends beyond the network's own subnets (but
multicast), as ptp's do. The per-network jump matches the whole subnet as the source where
ptp's match each pod's address: the same for the network's pods, which are all there is on
a subnet host-local hands out (the host's end of a ptp veth holds the gateway address, which
the host picks as a source only for its pods).
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import json
import os
import subprocess
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rkt.errors import NetworkError
from rkt.net.config import NetworkConfig, parse_network

if TYPE_CHECKING:
    from rkt.net.cni import Attachment
    from rkt.net.result import Result

__all__ = [
    "LOCK",
    "MARKERS",
    "MASQ_BY_RKT",
    "PER_NETWORK",
    "RUN_DIR",
    "Ensuring",
    "add_for_pod",
    "drop_idle_locks",
    "flock",
    "mode",
    "needs_sweep",
    "pod_names",
    "release_if_idle",
    "release_pod_chains",
    "restore_line",
    "run_iptables",
    "start_iptables",
    "sweep",
    "take_over",
    "wait_iptables",
]

#: Marks a ptp configuration whose ``ipMasq`` rkt does: ``"network"`` or ``true`` (per pod).
MASQ_BY_RKT = "rkt.coreos.com/ipMasq"
PER_NETWORK = "network"
#: Where the locks and markers of per-network masquerading live (tmpfs, as the rules do).
RUN_DIR = Path("/run/rkt")
#: Shared by :class:`Ensuring`, exclusive for :func:`release_if_idle` (in :data:`RUN_DIR`).
LOCK = "masquerade.lock"
#: The markers (``<chain>.ipv4``/``.ipv6``: made by rkt, not removed by gc since) and the
#: chains' locks (``<chain>.lock``), in :data:`RUN_DIR`.
MARKERS = "masquerade"
#: host-local's lease directories when the IPAM configuration names no ``dataDir``.
DEFAULT_LEASE_DIR = Path("/var/lib/cni/networks")
_MULTICAST = {4: "224.0.0.0/4", 6: "ff00::/8"}
_TOOL = {4: "iptables", 6: "ip6tables"}


def take_over(network: NetworkConfig) -> NetworkConfig | None:
    """``network`` with ptp's ``ipMasq`` turned off and marked as rkt's to do, or None if it
    is not ptp with ``ipMasq``. The marked configuration is what is cached, so that DEL asks
    nothing of ptp's iptables either and the teardown knows which way it was masqueraded."""
    first = network.plugins[0]
    if first.get("type") != "ptp" or first.get("ipMasq") is not True:
        return None
    doc = json.loads(network.raw)
    target = doc["plugins"][0] if network.is_list else doc
    target["ipMasq"] = False
    target[MASQ_BY_RKT] = PER_NETWORK if _subnets(target.get("ipam")) else True
    return parse_network(json.dumps(doc).encode(), network.source)


def mode(network: NetworkConfig) -> str | bool | None:
    """How rkt masquerades ``network`` (a configuration :func:`take_over` marked): ``"network"``,
    ``True`` (per pod), or None when it does not."""
    value = network.plugins[0].get(MASQ_BY_RKT)
    return value if value in (PER_NETWORK, True) else None


# --- per network ---------------------------------------------------------------------------


def _subnets(ipam: object) -> dict[int, list[str]]:
    """The subnets of a host-local IPAM configuration by address family (``subnet`` or
    ``ranges``); empty for another IPAM or one that names none."""
    if not isinstance(ipam, dict) or ipam.get("type") != "host-local":
        return {}
    ranges = ipam.get("ranges")
    entries = [ipam] if ranges is None else [r for rs in ranges for r in rs]
    found: dict[int, list[str]] = {}
    try:
        for entry in entries:
            if "subnet" in entry:
                subnet = ipaddress.ip_network(str(entry["subnet"]), strict=False)
                found.setdefault(subnet.version, []).append(str(subnet))
    except (TypeError, ValueError):
        return {}
    return found


def network_names(name: str, subnets: Mapping[int, list[str]]) -> tuple[str, str]:
    """The chain (28 characters at most, as iptables wants) and comment of a network's rules.

    The chain is named after the network and its subnets, so that its rules never change:
    a network whose subnets are edited gets a chain of its own next to the one its running
    pods use, and gc removes both once the network is idle. The name needs only be stable
    and differ between the few chains of a host: two checksums, as hashlib would load
    OpenSSL (2 ms) on the way to every ADD."""
    import zlib

    data = json.dumps([name, sorted(subnets.items())]).encode()
    return f"RKT-MASQ-{zlib.crc32(data):08x}{zlib.adler32(data):08x}", _comment(name)


def _comment(name: str) -> str:
    return f'rkt ipMasq of network "{name}"'


def flock(path: Path, operation: int) -> int:
    """An open descriptor of ``path`` (made if missing) holding ``operation``'s flock."""
    path.parent.mkdir(mode=0o755, parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, operation)
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    fd = flock(path, fcntl.LOCK_EX)
    try:
        yield
    finally:
        os.close(fd)


def _chain(chain: str, comment: str, family: int, subnets: list[str]) -> list[list[str]]:
    """Declare ``chain`` (made, or emptied if it is there) to accept what goes to ``subnets``
    and masquerade the rest but multicast, as ptp's ipMasq chains do."""
    tail = ["-m", "comment", "--comment", comment]
    return [
        [f":{chain}", "-", "[0:0]"],
        *(["-A", chain, "-d", subnet, "-j", "ACCEPT", *tail] for subnet in subnets),
        ["-A", chain, "!", "-d", _MULTICAST[family], "-j", "MASQUERADE", *tail],
    ]


def _script(rules: list[list[str]]) -> str:
    """An iptables-restore script for the nat table."""
    return "*nat\n" + "".join(restore_line(r) for r in rules) + "COMMIT\n"


def _jump(chain: str, comment: str, subnet: str) -> list[str]:
    return ["POSTROUTING", "-s", subnet, "-m", "comment", "--comment", comment, "-j", chain]


class Ensuring:
    """Making sure the masquerading chain of a network (marked ``"network"``) is in place, in
    two halves around its plugin's ADD, so that the iptables processes run meanwhile.

    Started, it holds :data:`LOCK` shared until :meth:`finish` (after the ADD, when the pod's
    lease is taken): gc's :func:`release_if_idle` takes it exclusively, so it cannot find the
    network idle and remove the chain in between. Each address family of a chain rkt made
    has a marker in :data:`MARKERS`: with it, one ``iptables -C`` per subnet is started, and
    :meth:`finish` remakes what an outside flush removed; without it, whoever holds the
    chain's lock there starts the ``iptables-restore`` that makes the chain and its jumps,
    and marks it once done (even if the ADD fails: the chain is right). Pods of the network
    wait for that lock while the first one ADDs; other networks do not.
    """

    def __init__(self, network: NetworkConfig, run_dir: Path = RUN_DIR) -> None:
        self.network = network
        self.subnets = _subnets(network.plugins[0].get("ipam"))
        self.chain, self.comment = network_names(network.name, self.subnets)
        self.markers = run_dir / MARKERS
        self.checks: dict[tuple[int, str], subprocess.Popen[bytes] | None] = {}
        self.restores: dict[int, subprocess.Popen[bytes] | None] = {}
        self._creating = -1
        self._shared = flock(run_dir / LOCK, fcntl.LOCK_SH)
        try:
            unmade = [f for f in self.subnets if not self._marker(f).exists()]
            if unmade:
                self._take_create_lock()
                unmade = [f for f in unmade if not self._marker(f).exists()]  # made meanwhile
            for family, nets in self.subnets.items():
                if family in unmade:
                    self.restores[family] = self._restore(family, nets)
                else:
                    self.checks.update({(family, n): self._check(family, n) for n in nets})
        except BaseException:
            self.abandon()
            raise

    def _marker(self, family: int) -> Path:
        return self.markers / f"{self.chain}.ipv{family}"

    def _take_create_lock(self) -> None:
        if self._creating < 0:
            self._creating = flock(self.markers / f"{self.chain}.lock", fcntl.LOCK_EX)

    def _check(self, family: int, subnet: str) -> subprocess.Popen[bytes] | None:
        jump = _jump(self.chain, self.comment, subnet)
        return start_iptables([_TOOL[family], "-w", "5", "-t", "nat", "-C", *jump])

    def _restore(self, family: int, jumps: list[str]) -> subprocess.Popen[bytes] | None:
        """Make (or empty and refill) the family's chain, and add the jumps for ``jumps``."""
        rules = _chain(self.chain, self.comment, family, self.subnets[family])
        rules += [["-A", *_jump(self.chain, self.comment, subnet)] for subnet in jumps]
        return start_iptables([f"{_TOOL[family]}-restore", "-w", "5", "--noflush"], _script(rules))

    def finish(self) -> None:
        """Wait for the processes; remake what the checks found missing; release the locks.
        :class:`NetworkError` if the chain could not be made."""
        try:
            missing = {f for (f, _), check in self.checks.items() if wait_iptables(check) != 0}
            self.checks = {}
            if missing:
                self._take_create_lock()
                for family in sorted(missing):  # again: another pod may have remade them
                    jumps = [n for n in self.subnets[family]
                             if wait_iptables(self._check(family, n)) != 0]  # fmt: skip
                    if jumps:
                        self.restores[family] = self._restore(family, jumps)
            failed = self._settle()
            if failed:
                raise NetworkError(
                    f"network {self.network.name!r}: {_TOOL[failed[0]]}-restore could not "
                    "add the NAT rules of ipMasq"
                )
        finally:
            self.abandon()

    def _settle(self) -> list[int]:
        """Wait for the restores, mark the families they made; those that failed."""
        failed = []
        for family, restore in self.restores.items():
            if wait_iptables(restore) == 0:
                self._marker(family).write_text(self.network.name + "\n")
            else:
                failed.append(family)
        self.restores = {}
        return failed

    def abandon(self) -> None:
        """Let go: processes still running are waited for (a chain they made is marked), the
        locks released."""
        try:
            for process in self.checks.values():
                wait_iptables(process)
            self.checks = {}
            self._settle()
        finally:
            if self._creating >= 0:
                os.close(self._creating)
                self._creating = -1
            if self._shared >= 0:
                os.close(self._shared)
                self._shared = -1


def lease_dir(network: NetworkConfig) -> Path | None:
    """Where host-local keeps the network's leases (``dataDir``/name); None for another IPAM."""
    ipam = network.plugins[0].get("ipam")
    if not isinstance(ipam, dict) or ipam.get("type") != "host-local":
        return None
    data_dir = ipam.get("dataDir")
    return Path(str(data_dir)) / network.name if data_dir else DEFAULT_LEASE_DIR / network.name


def _has_leases(directory: Path) -> bool:
    """Whether host-local's directory holds a lease: a file named after an address (besides
    them it keeps ``lock`` and ``last_reserved_ip.N``)."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return False
    except OSError as err:
        raise NetworkError(f"cannot read the leases in {directory}: {err.strerror}") from err
    for name in names:
        with contextlib.suppress(ValueError):
            ipaddress.ip_address(name)
            return True
    return False


def release_if_idle(network: NetworkConfig, run_dir: Path = RUN_DIR) -> list[str]:
    """``rkt gc``: remove the masquerading chains of ``network`` (a ptp network with host-local
    addresses, whatever its ``ipMasq`` says now) if no pod holds a lease on it; the errors.
    Chains are found by their comment, whatever subnets (or ipMasq) the network had when they
    were made, and jumps by their target."""
    import shlex

    directory = lease_dir(network)
    if directory is None:
        return []
    comment = _comment(network.name)
    errors: list[str] = []
    with _locked(run_dir / LOCK):
        if _has_leases(directory):
            return []
        chains: set[str] = set()
        for family in (4, 6):
            tool = _TOOL[family]
            listed = _output([tool, "-w", "5", "-t", "nat", "-S"])
            if listed is None:
                if family == 4:  # a host without IPv6 has no ip6tables to ask, nor rules
                    errors.append(f"{tool} -S: cannot list the nat table")
                continue
            lines = [shlex.split(line) for line in listed.splitlines()]
            ours = {w[1] for w in lines if len(w) > 1 and w[0] == "-A" and comment in w
                    and w[1].startswith("RKT-MASQ-")}  # fmt: skip
            if not ours:
                continue
            chains |= ours
            rules = [["-D", *w[1:]] for w in lines if w[:2] == ["-A", "POSTROUTING"]
                     and len(w) > 3 and w[-2] == "-j" and w[-1] in ours]  # fmt: skip
            for chain in sorted(ours):
                rules += [["-F", chain], ["-X", chain]]
            errors += _restore_or_each(tool, rules)
        if not errors:  # a marker left behind only costs a check that finds the chain gone
            for chain in chains:
                for marker in (run_dir / MARKERS).glob(f"{chain}.ipv*"):
                    marker.unlink(missing_ok=True)
    return errors


def drop_idle_locks(run_dir: Path = RUN_DIR) -> None:
    """``rkt gc``: delete the lock files of chains rkt no longer has (no marker). Under
    :data:`LOCK` held exclusively no :class:`Ensuring` is in progress, so none is held."""
    markers = run_dir / MARKERS
    if not markers.is_dir():
        return
    with _locked(run_dir / LOCK):
        for lock in markers.glob("*.lock"):
            chain = lock.name.removesuffix(".lock")
            if not any(markers.glob(f"{chain}.ipv*")):
                lock.unlink(missing_ok=True)


# --- per pod -------------------------------------------------------------------------------


def pod_names(name: str, container_id: str) -> tuple[str, str]:
    """The chain and comment ptp gives a container's NAT rules (utils.FormatChainName and
    FormatComment), so that either of us can remove what the other made."""
    import hashlib  # only here: see network_names

    chain = "CNI-" + hashlib.sha512((name + container_id).encode()).hexdigest()[:24]
    return chain, f'name: "{name}" id: "{container_id}"'


def add_for_pod(name: str, container_id: str, result: Result) -> None:
    """Masquerade what the pod sends beyond its own subnets, as ptp's ``ipMasq`` does: a chain
    accepting the pod's subnets and masquerading the rest (but multicast), jumped to from
    POSTROUTING for each of the pod's addresses; one iptables-restore per address family."""
    chain, comment = pod_names(name, container_id)
    by_family: dict[int, list[tuple[str, str]]] = {}
    for ip in result.pod_ips():
        by_family.setdefault(ip.address.version, []).append(
            (str(ip.address.network), f"{ip.address.ip}/{ip.address.max_prefixlen}")
        )
    for family, ips in by_family.items():
        rules = _chain(chain, comment, family, [subnet for subnet, _ in ips])
        tail = ["-m", "comment", "--comment", comment]
        rules += [["-A", "POSTROUTING", "-s", host, "-j", chain, *tail] for _, host in ips]
        tool = f"{_TOOL[family]}-restore"
        if run_iptables([tool, "-w", "5", "--noflush"], _script(rules)) != 0:
            raise NetworkError(f"network {name!r}: {tool} could not add the NAT rules")


def needs_sweep(entry: Attachment) -> bool:
    """Whether the attachment's network was masqueraded per pod, by ptp or bridge (their own
    ``ipMasq``) or by :func:`add_for_pod`."""
    return entry.network.plugins[0].get("ipMasq") is True or mode(entry.network) is True


def sweep(entry: Attachment) -> list[str]:
    """Remove the per-pod NAT rules of ptp/bridge ``ipMasq`` from the cached result's addresses.

    ptp (1.1.1) and bridge tear their MASQUERADE rules down only for addresses they still find
    in the namespace, so after a crash that lost the namespace (or on the teardown's fast
    path) the rules are ours to remove; so are those of :func:`add_for_pod`. They are found as
    the plugins name them. One ``iptables-restore --noflush`` per address family; the errors
    of the removals that were attempted. Nothing for a network masqueraded per network.
    """
    if not needs_sweep(entry) or entry.result is None:
        return []
    chain, comment = pod_names(entry.network.name, entry.container_id)
    by_family: dict[int, list[str]] = {}
    for ip in entry.result.pod_ips():
        by_family.setdefault(ip.address.version, []).append(
            f"{ip.address.ip}/{ip.address.max_prefixlen}"
        )
    errors: list[str] = []
    for family, sources in by_family.items():
        rules = [["-D", "POSTROUTING", "-s", s, "-m", "comment", "--comment", comment, "-j", chain]
                 for s in sources]  # fmt: skip
        rules += [["-F", chain], ["-X", chain]]
        errors += _restore_or_each(_TOOL[family], rules)
    return errors


def release_pod_chains(gone: Callable[[str], bool]) -> tuple[list[str], list[str]]:
    """``rkt gc``'s host sweep: remove the per-pod NAT chains (ptp's, or :func:`add_for_pod`'s:
    ``CNI-…`` with the comment ``name: "N" id: "<id>"``) of the container IDs ``gone`` says
    are gone, with their jumps; (what was removed, errors)."""
    import re
    import shlex

    done: list[str] = []
    errors: list[str] = []
    for tool in _TOOL.values():
        listed = _output([tool, "-w", "5", "-t", "nat", "-S"])
        if listed is None:
            continue
        lines = [shlex.split(line) for line in listed.splitlines()]
        owners: dict[str, str] = {}
        for words in lines:
            if words[:2] != ["-A", "POSTROUTING"] or "--comment" not in words[:-1]:
                continue
            comment = words[words.index("--comment") + 1]
            match = re.fullmatch(r'name: ".*" id: "([^"]+)"', comment)
            if match and gone(match.group(1)) and words[-2:-1] == ["-j"]:
                owners[words[-1]] = match.group(1)
        if not owners:
            continue
        rules = [["-D", *w[1:]] for w in lines
                 if w[:2] == ["-A", "POSTROUTING"] and w[-1] in owners]  # fmt: skip
        for chain in sorted(owners):
            rules += [["-F", chain], ["-X", chain]]
        errors += _restore_or_each(tool, rules)
        done += [f"{tool} chain {chain} of pod {owner}" for chain, owner in owners.items()]
    return done, errors


# --- running iptables ------------------------------------------------------------------------


def _restore_or_each(tool: str, rules: list[list[str]]) -> list[str]:
    """Apply ``rules`` (removals) in one ``iptables-restore --noflush`` transaction; if that
    fails (some rule is already gone, which aborts the whole transaction), each on its own,
    where a rule that is already gone is no error. The errors of tools that could not run."""
    if run_iptables([f"{tool}-restore", "-w", "5", "--noflush"], _script(rules)) == 0:
        return []
    errors = []
    for args in rules:
        if run_iptables([tool, "-w", "5", "-t", "nat", *args]) is None:
            errors.append(f"{tool} {' '.join(args)}: cannot run {tool}")
    return errors


def restore_line(args: list[str]) -> str:
    """One line of an iptables-restore script: it splits on blanks outside double quotes and
    takes \\" inside them."""
    quoted = ['"' + a.replace("\\", "\\\\").replace('"', '\\"') + '"' if " " in a or '"' in a
              else a for a in args]  # fmt: skip
    return " ".join(quoted) + "\n"


def run_iptables(command: list[str], stdin: str | None = None) -> int | None:
    """Run one iptables command to its end; its exit status, ``None`` if it could not run."""
    return wait_iptables(start_iptables(command, stdin))


def _output(command: list[str]) -> str | None:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return done.stdout if done.returncode == 0 else None


def start_iptables(command: list[str], stdin: str | None = None) -> subprocess.Popen[bytes] | None:
    """``command`` started with ``stdin`` written to it (None if it cannot start)."""
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    except OSError:
        return None
    if stdin is not None and process.stdin is not None:
        try:
            with contextlib.suppress(BrokenPipeError):
                process.stdin.write(stdin.encode())  # a script is far below a pipe's capacity
            with contextlib.suppress(BrokenPipeError):
                process.stdin.close()
        except BaseException:
            process.kill()
            process.wait()
            raise
    return process


def wait_iptables(process: subprocess.Popen[bytes] | None) -> int | None:
    """The exit status of a process from :func:`start_iptables` (waited for once, then
    remembered)."""
    if process is None:
        return None
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        return None
