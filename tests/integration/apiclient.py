"""A gRPC client generated from rkt's own api.proto (tests/integration/rktapi), as rkt's users
generated theirs, and ``rkt api-service`` started for it on 127.0.0.1."""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from tests.integration import servicekit

PROTO = Path(__file__).parent / "rktapi" / "api.proto"


def generate(out: Path) -> tuple[ModuleType, ModuleType]:
    """``api_pb2`` and ``api_pb2_grpc`` from rkt's proto, generated into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}", f"--python_out={out}",
         f"--grpc_python_out={out}", str(PROTO)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    if str(out) not in sys.path:
        sys.path.insert(0, str(out))  # api_pb2_grpc imports api_pb2 by its top-level name
    return importlib.import_module("api_pb2"), importlib.import_module("api_pb2_grpc")


def start(
    data: Path, log: Path, *extra: str, sockets: list[Any] | None = None
) -> tuple[servicekit.Service, str]:
    """``rkt --dir=DATA api-service`` on a free port of 127.0.0.1 (or on ``sockets``); the
    service and its address."""
    args = [f"--dir={data}", "api-service", *extra]
    if sockets is None:
        args.append("--listen=127.0.0.1:0")
    service = servicekit.Service(args, log, sockets=sockets or ())
    service.wait_running()
    found = re.search(r"running on (\S+)", service.text())
    assert found, service.text()
    return service, found.group(1)


def stub(modules: tuple[ModuleType, ModuleType], address: str) -> Any:
    import grpc

    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    return modules[1].PublicAPIStub(channel)
