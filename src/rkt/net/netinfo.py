"""``net-info.json`` in the pod directory: the networks a pod joined, in rkt's shape.

rkt 1.30 ``networking/netinfo``: a JSON list of ``{"netName", "netConf", "pluginPath",
"ifName", "ip", "args", "mask"}``, where ``mask`` is written as a dotted address (Go marshals
its ``net.IP``). ``rkt list``, ``rkt status`` and stage1 read it.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
from msgspec.structs import asdict

from rkt import jsondoc
from rkt.atomicfile import write_atomically
from rkt.net.result import Result
from rkt.pod import layout

__all__ = ["NetInfo", "from_result", "load", "save"]


class NetInfo(msgspec.Struct, frozen=True):
    # rkt's JSON field names, so that asdict() is the file's entry.
    netName: str
    netConf: str
    pluginPath: str
    ifName: str
    ip: str
    args: str
    mask: str


def from_result(
    name: str, conf_path: Path, plugin_path: Path, ifname: str, args: str, result: Result
) -> NetInfo:
    """The entry for one network; its first pod address (IPv4 preferred, as rkt reads ip4)."""
    ips = sorted(result.pod_ips(), key=lambda ip: ip.address.version)
    ip, mask = ("", "")
    if ips:
        ip = str(ips[0].address.ip)
        mask = str(ips[0].address.network.netmask)
    return NetInfo(name, str(conf_path), str(plugin_path), ifname, ip, args, mask)


def save(pod_dir: Path, infos: list[NetInfo]) -> None:
    write_atomically(pod_dir / layout.NET_INFO, json.dumps([asdict(i) for i in infos]).encode(),
                     durable=False)  # fmt: skip


def load(pod_dir: Path) -> list[NetInfo]:
    doc = jsondoc.loads((pod_dir / layout.NET_INFO).read_bytes())
    return [
        NetInfo(**{k: str(item.get(k) or "") for k in NetInfo.__struct_fields__}) for item in doc
    ]
