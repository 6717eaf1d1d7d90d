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

from pathlib import Path

from rkt import jsondoc
from rkt.errors import ConfigError, PodError, ServiceError
from rkt.pod import layout

__all__ = ["check_network", "register"]


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
    from msgspec.structs import replace

    from rkt.metadata.client import register as send
    from rkt.stage0.prepare import write_file
    from rkt.stage1.interface import read_options

    try:
        manifest = jsondoc.loads((pod_dir / layout.MANIFEST).read_bytes())
        options = read_options(pod_dir)
    except (OSError, ValueError, PodError) as err:
        raise PodError(f"pod {uuid}: cannot read what to register: {err}") from err
    if options is None:
        raise PodError(f"pod {uuid}: it has no {layout.OPTIONS} to register with")
    apps = [str(app.get("name")) for app in manifest.get("apps") or [] if isinstance(app, dict)]
    addresses, gateway = _identity(pod_dir, uuid)
    url = send(pod_dir, uuid, apps, socket, addresses, gateway)
    run = replace(options.options, metadata_url=url)
    write_file(pod_dir / layout.OPTIONS, replace(options, options=run).to_json())
    return url
