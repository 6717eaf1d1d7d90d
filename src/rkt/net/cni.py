"""A small CNI client (spec 1.0.0): run plugin binaries, chain results, cache them for DEL/CHECK.

Each call execs the plugin found in the plugin directories with ``CNI_COMMAND``,
``CNI_CONTAINERID``, ``CNI_NETNS``, ``CNI_IFNAME``, ``CNI_ARGS`` and ``CNI_PATH`` in its
environment and its configuration on stdin. A ``.conflist`` runs its plugins in order for ADD,
each given the previous one's result as ``prevResult``, and in reverse order for DEL.

The cache (one JSON file per network, container and interface, like libcni's
``/var/lib/cni/results``) is written *before* the first plugin runs and completed with the result
afterwards, so that a crash in the middle of an ADD still leaves enough for gc to DEL: the
configuration the attachment was made with and, once known, the result to hand DEL as
``prevResult``.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import msgspec

from rkt import jsondoc
from rkt.atomicfile import write_atomically
from rkt.errors import NetworkError
from rkt.net.config import NetworkConfig, parse_network
from rkt.net.netns import is_netns
from rkt.net.result import Result, parse_result

__all__ = ["DEFAULT_PLUGIN_DIRS", "Attachment", "Client"]

# Debian's containernetworking-plugins first, then where rkt and upstream CNI put plugins.
DEFAULT_PLUGIN_DIRS = (Path("/usr/lib/cni"), Path("/usr/lib/rkt/plugins/net"), Path("/opt/cni/bin"))
_CACHE_KIND = "rktCNICacheV1"


class Attachment(msgspec.Struct, frozen=True):
    """A network attached (or being attached) to a container, as read from the cache."""

    network: NetworkConfig
    container_id: str
    ifname: str
    netns: str
    args: str
    seq: int  # the order attachments were made in; teardown goes backwards
    result: Result | None  # None when the ADD did not finish
    #: the runtimeConfig of the ADD (``portMappings``), which DEL needs again (portmap)
    runtime_config: Mapping[str, Any] | None = None


class Client:
    """Runs CNI plugins; ``cache_dir`` holds one file per attachment (created on demand)."""

    def __init__(
        self,
        cache_dir: Path,
        plugin_dirs: Sequence[Path] = DEFAULT_PLUGIN_DIRS,
        *,
        timeout: float = 120.0,
    ) -> None:
        self.cache_dir = cache_dir
        self.plugin_dirs = tuple(plugin_dirs)
        self.timeout = timeout

    # -- plugins -------------------------------------------------------------------------------

    def find_plugin(self, kind: str) -> Path:
        for directory in self.plugin_dirs:
            path = directory / kind
            if path.is_file() and os.access(path, os.X_OK):
                return path
        searched = ":".join(map(str, self.plugin_dirs))
        raise NetworkError(
            f"cni plugin {kind!r} not found in {searched}",
            hint="install containernetworking-plugins",
        )

    def _exec(
        self,
        network: NetworkConfig,
        kind: str,
        stdin: Mapping[str, Any],
        command: str,
        env: Mapping[str, str],
    ) -> Mapping[str, Any] | None:
        """Run one plugin; its parsed stdout, or ``None`` when it printed nothing (DEL)."""
        plugin = self.find_plugin(kind)
        # Plugins run iptables and friends themselves, so they need the caller's PATH; stale
        # CNI_* variables of our own caller must not leak into them.
        full_env = {k: v for k, v in os.environ.items() if not k.startswith("CNI_")}
        full_env.update(env, CNI_COMMAND=command, CNI_PATH=":".join(map(str, self.plugin_dirs)))
        what = f"network {network.name!r}: {command} of plugin {kind!r}"
        try:
            done = subprocess.run(
                [str(plugin)],
                input=json.dumps(stdin).encode(),
                env=full_env,
                capture_output=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as err:
            raise NetworkError(f"{what}: no answer after {self.timeout:g}s") from err
        except OSError as err:
            raise NetworkError(f"{what}: cannot execute {plugin}: {err.strerror}") from err
        out = done.stdout.strip()
        doc: object = None
        if out:
            try:
                doc = jsondoc.loads(out)
            except ValueError:
                doc = None
        if done.returncode != 0:
            raise _plugin_error(what, done.returncode, doc, done.stderr)
        if not out:
            return None
        if not isinstance(doc, dict):
            raise NetworkError(f"{what}: cannot parse its output {out[:200]!r}")
        return doc

    def version(self, kind: str) -> list[str]:
        """The spec versions plugin ``kind`` supports (``CNI_COMMAND=VERSION``)."""
        probe = NetworkConfig("version", "1.0.0", ({"type": kind},), "version", b"")
        doc = self._exec(probe, kind, {"cniVersion": "1.0.0"}, "VERSION", {})
        versions = (doc or {}).get("supportedVersions")
        if not isinstance(versions, list):
            raise NetworkError(f"cni plugin {kind!r}: VERSION printed no supportedVersions")
        return [str(v) for v in versions]

    # -- the cache -----------------------------------------------------------------------------

    def _cache_path(self, network: str, container_id: str, ifname: str) -> Path:
        return self.cache_dir / f"{network}-{container_id}-{ifname}.json"

    def _write_cache(self, entry: Attachment) -> None:
        self.cache_dir.mkdir(parents=True, exist_ok=True)
        path = self._cache_path(entry.network.name, entry.container_id, entry.ifname)
        doc = {
            "kind": _CACHE_KIND,
            "networkName": entry.network.name,
            "source": entry.network.source,
            "config": entry.network.raw.decode(),
            "containerId": entry.container_id,
            "ifName": entry.ifname,
            "netns": entry.netns,
            "cniArgs": entry.args,
            "seq": entry.seq,
            "result": None if entry.result is None else dict(entry.result.raw),
            "runtimeConfig": None if entry.runtime_config is None else dict(entry.runtime_config),
        }
        # Write-then-rename: a crash leaves the old entry or the new one, never half of one.
        write_atomically(path, json.dumps(doc).encode(), durable=False)

    def _read_cache(self, path: Path) -> Attachment:
        try:
            doc = jsondoc.loads(path.read_bytes())
            network = parse_network(doc["config"].encode(), doc["source"])
            raw = doc["result"]
            runtime = doc.get("runtimeConfig")
            if runtime is not None and not isinstance(runtime, dict):
                raise ValueError("runtimeConfig is not an object")
            return Attachment(
                network,
                doc["containerId"],
                doc["ifName"],
                doc["netns"],
                doc["cniArgs"],
                int(doc["seq"]),
                None if raw is None else parse_result(raw, str(path)),
                runtime,
            )
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as err:
            raise NetworkError(f"{path}: unreadable cni cache entry: {err}") from err

    def cached(self, network: str, container_id: str, ifname: str) -> Attachment | None:
        path = self._cache_path(network, container_id, ifname)
        return self._read_cache(path) if path.exists() else None

    def attachments(self, container_id: str) -> list[Attachment]:
        """The container's cached attachments, in the order they were made."""
        try:
            names = os.listdir(self.cache_dir)
        except FileNotFoundError:
            return []
        found = [
            self._read_cache(self.cache_dir / name) for name in names if name.endswith(".json")
        ]
        return sorted((a for a in found if a.container_id == container_id), key=lambda a: a.seq)

    # -- ADD, CHECK, DEL -----------------------------------------------------------------------

    def add(
        self,
        network: NetworkConfig,
        container_id: str,
        netns: str,
        ifname: str,
        args: str = "",
        runtime_config: Mapping[str, Any] | None = None,
    ) -> Result:
        """Attach ``network`` to the netns at ``netns`` as ``ifname``; the last plugin's result.

        On failure the plugins that may have run are DELeted (the spec's advice) before the
        plugin's error is raised; the cache entry stays if that DEL fails too, for gc.
        """
        seq = max((a.seq + 1 for a in self.attachments(container_id)), default=0)
        entry = Attachment(network, container_id, ifname, netns, args, seq, None, runtime_config)
        self._write_cache(entry)
        env = _env(container_id, netns, ifname, args)
        prev: Mapping[str, Any] | None = None
        try:
            for index, plugin in enumerate(network.plugins):
                stdin = network.plugin_config(index, prev, runtime_config)
                out = self._exec(network, str(plugin["type"]), stdin, "ADD", env)
                if out is None:
                    raise NetworkError(
                        f"network {network.name!r}: ADD of plugin {plugin['type']!r} "
                        "printed no result"
                    )
                parse_result(out, f"network {network.name!r}: result of {plugin['type']!r}")
                prev = out
        except NetworkError:
            # The ADD error is the one to report; if DEL fails too the cache entry stays for gc.
            with contextlib.suppress(NetworkError):
                self.delete(network, container_id, netns, ifname, args)
            raise
        assert prev is not None  # a network has at least one plugin
        result = parse_result(prev, f"network {network.name!r}: result")
        self._write_cache(
            Attachment(network, container_id, ifname, netns, args, seq, result, runtime_config),
        )
        return result

    def check(
        self,
        network: NetworkConfig,
        container_id: str,
        netns: str,
        ifname: str,
        args: str = "",
        runtime_config: Mapping[str, Any] | None = None,
    ) -> None:
        """CHECK an attachment against its cached result; :class:`NetworkError` if broken."""
        entry = self.cached(network.name, container_id, ifname)
        if entry is None or entry.result is None:
            raise NetworkError(f"network {network.name!r}: no cached result for {ifname} to CHECK")
        if network.disable_check:
            return
        if _version_tuple(entry.network.cni_version) < (0, 4, 0):
            return  # CHECK arrived in spec 0.4.0; older plugins do not know it
        env = _env(container_id, netns, ifname, args)
        for index, plugin in enumerate(entry.network.plugins):
            stdin = entry.network.plugin_config(index, entry.result.raw, runtime_config)
            self._exec(entry.network, str(plugin["type"]), stdin, "CHECK", env)

    def delete(
        self,
        network: NetworkConfig,
        container_id: str,
        netns: str,
        ifname: str,
        args: str = "",
        runtime_config: Mapping[str, Any] | None = None,
    ) -> None:
        """DEL, plugins in reverse order, with the cached result as ``prevResult``.

        The configuration the attachment was made with (from the cache) wins over ``network``,
        so editing net.d cannot strand a lease. A netns that is gone (the pod crashed, the
        host rebooted) is passed as ``CNI_NETNS=""``, which the spec allows for DEL: plugins
        then release what lives outside the pod. Without ``runtime_config`` the one cached with
        the ADD is used (portmap removes its rules only for the mappings it is given). Every
        plugin is tried; the first error is raised after all have run, and the cache entry is
        kept so that gc can try again.
        """
        entry = self.cached(network.name, container_id, ifname)
        conf = entry.network if entry else network
        prev = entry.result.raw if entry and entry.result else None
        if runtime_config is None and entry is not None:
            runtime_config = entry.runtime_config
        env = _env(container_id, netns if is_netns(netns) else "", ifname, args)
        first: NetworkError | None = None
        for index in reversed(range(len(conf.plugins))):
            stdin = conf.plugin_config(index, prev, runtime_config)
            try:
                self._exec(conf, str(conf.plugins[index]["type"]), stdin, "DEL", env)
            except NetworkError as err:
                first = first or err
        if first is not None:
            raise first
        self._cache_path(network.name, container_id, ifname).unlink(missing_ok=True)

    def teardown(self, container_id: str) -> list[NetworkError]:
        """DEL every cached attachment of the container, newest first; the errors, if any.

        For gc and ``rkt stop`` after a crash: it needs only the cache, not net.d or the pod.
        """
        errors = []
        for entry in reversed(self.attachments(container_id)):
            try:
                self.delete(entry.network, container_id, entry.netns, entry.ifname, entry.args)
            except NetworkError as err:
                errors.append(err)
        return errors


def _env(container_id: str, netns: str, ifname: str, args: str) -> dict[str, str]:
    return {
        "CNI_CONTAINERID": container_id,
        "CNI_NETNS": netns,
        "CNI_IFNAME": ifname,
        "CNI_ARGS": args,
    }


def _version_tuple(version: str) -> tuple[int, ...]:
    try:
        return tuple(int(part) for part in version.split("."))
    except ValueError:
        return (0,)


def _plugin_error(what: str, status: int, doc: object, stderr: bytes) -> NetworkError:
    """The spec's error result (``code``, ``msg``, ``details``) as a :class:`NetworkError`."""
    if isinstance(doc, dict) and isinstance(doc.get("code"), int):
        code = int(doc["code"])
        msg = str(doc.get("msg") or "no message")
        details = str(doc.get("details") or "")
        text = f"{what} failed: {msg}" + (f": {details}" if details else "")
        return NetworkError(f"{text} (cni error code {code})", code=code, details=details)
    tail = stderr.decode(errors="replace").strip().splitlines()[-3:]
    shown = "; ".join(tail) or "no error message"
    return NetworkError(f"{what} exited with status {status}: {shown}")
