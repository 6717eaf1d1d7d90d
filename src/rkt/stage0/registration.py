"""``--mds-register``: the pod's registration with the metadata service (rkt's stage0).

stage0 registers the pod once its networks are up and before any app starts
(:func:`register`, called by :mod:`rkt.stage0.run`), because the service matches requests to
pods by their addresses and ``AC_METADATA_URL`` names the pod's gateway, and both are known
only after the CNI ADDs. The URL is written into ``stage1/options.json`` (``metadata_url``),
which stage1 reads when it plans the apps' environment; a pod that asks for registration
(top-level ``"mds_register": true``) is planned only once its networks are up for that reason
(:mod:`rkt.stage1.planner.load`). The pod's end unregisters it
(:func:`rkt.metadata.client.unregister`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rkt import jsondoc
from rkt.errors import ConfigError, PodError, ServiceError
from rkt.pod import layout

__all__ = ["MDS_REGISTER", "check_network", "register", "wanted"]

#: The top-level key of ``stage1/options.json`` that asks for registration.
MDS_REGISTER = "mds_register"


def wanted(document: dict[str, Any]) -> bool:
    """Whether the pod's options (``stage1/options.json``) ask for registration."""
    return document.get(MDS_REGISTER) is True


def check_network(net: str) -> None:
    """rkt: "--mds-register flag does not work with --net=none"."""
    if net == "none":
        raise ConfigError(
            "--mds-register does not work with --net=none",
            hint="use --net=host, --net=default or another network the host can reach",
        )


def _identity(pod_dir: Path, uuid: str) -> tuple[list[str], str | None]:
    """The pod's addresses on its CNI networks, and its first network's gateway (IPv4 first,
    as rkt's GetForwardableNetHostIP); ``([], None)`` for a pod in the host's network."""
    from rkt.net.files import CACHE_DIR, has_networks

    if not has_networks(pod_dir):
        return [], None
    from rkt.net.cni import Client

    addresses: list[str] = []
    gateways = []
    for attachment in Client(pod_dir / CACHE_DIR).attachments(uuid):
        if attachment.result is None:
            continue
        for ip in attachment.result.pod_ips():
            addresses.append(str(ip.address.ip))
            if ip.gateway is not None:
                gateways.append(ip.gateway)
    if not addresses:
        raise ServiceError(f"pod {uuid} has no address on its networks to register")
    if not gateways:
        raise ServiceError(
            f"pod {uuid}: its networks give it no gateway through which it could reach the "
            "metadata service",
            hint="use a network whose IPAM sets a gateway (ptp and bridge with host-local do)",
        )
    gateway = min(gateways, key=lambda address: address.version)
    return addresses, str(gateway)


def register(pod_dir: Path, uuid: str, socket: str) -> str:
    """Register the pod and put its ``AC_METADATA_URL`` in its options; the URL."""
    from rkt.metadata.client import register as send
    from rkt.stage0.options import OPTIONS_FILE
    from rkt.stage0.prepare import write_file

    try:
        manifest = jsondoc.loads((pod_dir / layout.MANIFEST).read_bytes())
        options = jsondoc.loads((pod_dir / OPTIONS_FILE).read_bytes())
    except (OSError, ValueError) as err:
        raise PodError(f"pod {uuid}: cannot read what to register: {err}") from err
    apps = [str(app.get("name")) for app in manifest.get("apps") or [] if isinstance(app, dict)]
    addresses, gateway = _identity(pod_dir, uuid)
    url = send(pod_dir, uuid, apps, socket, addresses, gateway)
    options.setdefault("options", {})["metadata_url"] = url
    write_file(pod_dir / OPTIONS_FILE, json.dumps(options, indent=2).encode() + b"\n")
    return url
