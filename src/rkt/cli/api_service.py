"""``rkt api-service [--listen=localhost:15441]``: rkt's read-only gRPC API (v1alpha), in the
foreground until SIGINT or SIGTERM (rkt 1.30's verb, "experimental" there too).

It reads the data dir and configuration the global flags name, as every verb does, and keeps
nothing between calls. Under systemd socket activation (``LISTEN_FDS``; dist/rkt-api.socket)
it serves the handed-over sockets, and ``--listen`` is refused, as rkt did. Needs the
``rocket[api]`` extra (grpcio, protobuf); without it the verb says so.
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


USE = "api-service [--listen=ADDRESS]"
DESCRIPTION = """\
Serve rkt's read-only gRPC API (v1alpha) over the pods and images of the data dir, in the
foreground until SIGINT or SIGTERM; needs the rocket[api] extra (grpcio, protobuf)."""


def add_arguments(flags: FlagSet) -> None:
    flags.add_string(
        "listen",
        "",
        "address to listen for client API requests (localhost:15441 by default; "
        "0.0.0.0:15441 for every interface)",
    )


def _log(line: str) -> None:
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


def run(args: Namespace, config: Config) -> int:
    from rkt.errors import ServiceError

    try:
        from rkt.api.service import serve
    except (ImportError, RuntimeError) as err:  # not installed, or grpcio older than the code
        raise ServiceError(
            f"the API service needs grpcio and protobuf: {err}",
            hint="pip install 'rocket[api]'",
        ) from err
    stop = threading.Event()

    def request_stop(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, request_stop)
    serve(config, args.listen or None, _log, stop)
    return 0
