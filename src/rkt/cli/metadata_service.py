"""``rkt metadata-service [--listen-port=18112] [--listen-address=0.0.0.0]``: the appc metadata
service, in the foreground until SIGINT or SIGTERM (rkt 1.30's verb).

Pods started with ``rkt run --mds-register`` register over the unix socket
``/run/rkt/metadata-svc.sock`` (``$RKT_METADATA_SOCKET`` names another, for this verb and for
``rkt run`` alike) and read their metadata on the TCP port. Under systemd socket activation
(``LISTEN_FDS``; dist/rkt-metadata.socket) a handed-over unix socket is the registration one
and TCP ones take the pods' requests; what is not handed over is opened here, as rkt did.
``--listen-address`` is this runtime's addition: rkt listened on every IPv4 address, which
stays the default; a pod network's gateway (e.g. 172.16.28.1 for ``default``) keeps the
service off the host's other interfaces. Each request is logged on stderr, tokens left out.
"""

from __future__ import annotations

import signal
import sys
import threading
from types import FrameType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rkt.cli.flags import FlagSet, Namespace
    from rkt.config import Config

PORT = 18112  # rkt's common.MetadataServicePort; rkt.metadata.client.PORT, without its imports


USE = "metadata-service [--listen-port=PORT] [--listen-address=ADDRESS]"
DESCRIPTION = """\
Serve the appc metadata of the pods started with --mds-register, on a TCP port the pods
reach, in the foreground until SIGINT or SIGTERM; sockets handed over by systemd socket
activation are used instead of opening them."""


def _port(text: str) -> int:
    port = int(text)
    if not 0 < port < 65536:
        raise ValueError("expected 1 to 65535")
    return port


def add_arguments(flags: FlagSet) -> None:
    from rkt.cli.flags import Flag

    flags.add(Flag("listen-port", "listen port", PORT, type_name="int", check=_port))
    flags.add_string(
        "listen-address",
        "0.0.0.0",
        "the address pods reach the service on (every IPv4 address, as rkt, by default)",
    )


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run(args: Namespace, config: Config) -> int:
    from rkt.errors import ServiceError
    from rkt.metadata.server import serve

    if not 0 < args.listen_port < 65536:
        raise ServiceError(f"--listen-port={args.listen_port}: expected 1 to 65535")
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    serve(args.listen_address, args.listen_port, _log, stop)
    return 0
