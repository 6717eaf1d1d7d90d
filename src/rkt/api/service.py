"""The ``v1alpha.PublicAPI`` servicer and the gRPC server it runs in (rkt's api_service.go).

Every call reads the data dir afresh (rkt.api.pods, rkt.api.images). Errors are gRPC statuses
with a one-line message: NOT_FOUND for an unknown pod or image, INVALID_ARGUMENT for an
ambiguous or malformed ID, FAILED_PRECONDITION for logs this host does not have. rkt answered
UNKNOWN for all of them; the codes let clients tell the cases apart.

``GetLogs``: rkt read the pods' logs from the systemd journal its stage1 sent them to. Rocket's
apps write to the stdout and stderr of the ``rkt run`` that started them and nothing records
them, so there are no logs to give: FAILED_PRECONDITION, never made-up lines.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, NoReturn

import grpc

from rkt.api import events, images, pods
from rkt.api import v1alpha_pb2 as pb
from rkt.api import v1alpha_pb2_grpc as pb_grpc
from rkt.api.relay import Relay
from rkt.api.scan import SharedScan
from rkt.errors import (
    AmbiguousImage,
    AmbiguousPod,
    ImageNotFound,
    PodNotFound,
    RktError,
    ServiceError,
)

if TYPE_CHECKING:
    from rkt.config import Config

__all__ = ["API_VERSION", "DEFAULT_LISTEN", "WORKERS", "Servicer", "serve"]

#: rkt's supportedAPIVersion and common.APIServiceListenAddr
API_VERSION = "1.0.0-alpha"
DEFAULT_LISTEN = "localhost:15441"
#: Calls served at once; more wait. A ListenEvents stream holds one for as long as it lasts.
WORKERS = 64
Log = Callable[[str], None]


def insecure_text(config: Config) -> str:
    """``--insecure-options`` as rkt's InsecureFlags.String() spells it back."""
    names = [
        flag.name.lower() for flag in type(config.insecure) if flag.name and flag in config.insecure
    ]
    return ",".join(n for n in names if n != "none") or "none"


def _abort(context: grpc.ServicerContext, err: RktError) -> NoReturn:
    if isinstance(err, (AmbiguousPod, AmbiguousImage)):
        code = grpc.StatusCode.INVALID_ARGUMENT
    elif isinstance(err, (PodNotFound, ImageNotFound)):
        code = (
            grpc.StatusCode.INVALID_ARGUMENT
            if "invalid" in err.message
            else grpc.StatusCode.NOT_FOUND
        )
    else:
        code = grpc.StatusCode.INTERNAL
    context.abort(code, str(err))  # raises
    raise err


class Servicer(pb_grpc.PublicAPIServicer):  # type: ignore[misc]
    def __init__(self, config: Config, log: Log) -> None:
        self.config = config
        self.log = log
        self.pods_dir = config.pods
        self._listings = SharedScan(lambda: pods.walk(self.pods_dir, log))

    def GetInfo(self, request: Any, context: grpc.ServicerContext) -> Any:
        from appc import SPEC_VERSION
        from rkt import __version__

        dirs = self.config.dirs
        return pb.GetInfoResponse(
            info=pb.Info(
                rkt_version=__version__,
                appc_version=SPEC_VERSION,
                api_version=API_VERSION,
                global_flags=pb.GlobalFlags(
                    dir=str(self.config.data_dir),
                    system_config_dir=str(dirs.system),
                    local_config_dir=str(dirs.local),
                    user_config_dir=str(dirs.user) if dirs.user is not None else "",
                    insecure_flags=insecure_text(self.config),
                    trust_keys_from_https=self.config.trust_keys_from_https,
                ),
            )
        )

    def ListPods(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            listing = self._listings.get()  # shared with the calls that came with this one
            found = pods.list_pods(self.pods_dir, request.filters, request.detail, listing=listing)
        except RktError as err:
            _abort(context, err)
        return pb.ListPodsResponse(pods=found)

    def InspectPod(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return pb.InspectPodResponse(pod=pods.load_pod(self.pods_dir, request.id, self.log))
        except RktError as err:
            _abort(context, err)

    def ListImages(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            found = images.list_images(self.config.data_dir, request.filters, request.detail)
        except RktError as err:
            _abort(context, err)
        return pb.ListImagesResponse(images=found)

    def InspectImage(self, request: Any, context: grpc.ServicerContext) -> Any:
        try:
            return pb.InspectImageResponse(
                image=images.find_image(self.config.data_dir, request.id)
            )
        except RktError as err:
            _abort(context, err)

    def ListenEvents(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            yield from events.stream(self.config.data_dir, request.filter, context.is_active)
        except RktError as err:
            _abort(context, err)

    def GetLogs(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        try:
            pod = pods.load_pod(self.pods_dir, request.pod_id)
        except RktError as err:
            _abort(context, err)
        context.abort(
            grpc.StatusCode.FAILED_PRECONDITION,
            f"pod {pod.id}: its apps' output is not recorded on this host (it goes to the "
            "stdout and stderr of the rkt run that started it)",
        )
        yield from ()


def _bound(server: grpc.Server, address: str) -> int:
    try:
        port = int(server.add_insecure_port(address))
    except RuntimeError as err:
        raise ServiceError(f"cannot listen on {address}: {err}") from err
    if port == 0:
        raise ServiceError(f"cannot listen on {address}")
    return port


def serve(
    config: Config,
    listen: str | None,
    log: Log,
    stop: threading.Event,
) -> None:
    """Serve until ``stop`` is set: on ``listen`` (default localhost:15441), or on the sockets
    systemd handed over (rkt.linux.activation), not both (rkt refused --listen under socket
    activation)."""
    from rkt.linux.activation import listen_sockets

    handed = listen_sockets()
    if handed and listen:
        raise ServiceError("started with sockets from systemd (LISTEN_FDS) and --listen: use one")
    # SO_REUSEPORT is grpc's default: a second service on the same port would start and share
    # it silently. rkt's Go listener refused that; so do we.
    server = grpc.server(
        ThreadPoolExecutor(max_workers=WORKERS), options=[("grpc.so_reuseport", 0)]
    )
    pb_grpc.add_PublicAPIServicer_to_server(Servicer(config, log), server)
    relay = None
    private_dir = None
    try:
        if handed:
            private_dir = tempfile.mkdtemp(
                prefix="rkt-api-", dir="/run" if os.access("/run", os.W_OK) else None
            )
            target = os.path.join(private_dir, "grpc.sock")
            _bound(server, f"unix:{target}")
            relay = Relay(handed, target)
            where = ", ".join(s.describe() for s in handed)
        else:
            address = listen or DEFAULT_LISTEN
            port = _bound(server, address)
            where = address if not address.endswith(":0") else f"{address[:-2]}:{port}"
        server.start()
        if relay is not None:
            relay.start()
        log(f"API service running on {where}")
        while not stop.wait(1.0):
            pass
        log("API service exiting")
        if relay is not None:
            relay.stop()
        server.stop(grace=1.0).wait()
    finally:
        if private_dir is not None:
            shutil.rmtree(private_dir, ignore_errors=True)
