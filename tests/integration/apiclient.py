"""A gRPC client generated from rkt's own api.proto (tests/integration/rktapi) by protoc, as rkt's
users generated theirs, and ``rkt api-service`` started for it on 127.0.0.1."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from tests.integration import servicekit

PROTO = Path(__file__).parent / "rktapi" / "api.proto"


def generate(out: Path) -> tuple[SimpleNamespace, SimpleNamespace]:
    """rkt's messages and a ``PublicAPIStub``, built from rkt's proto compiled by protoc.

    Like protoc's Python output (``api_pb2``, ``api_pb2_grpc``) but in a descriptor pool of its
    own: this process may also hold the service's generated code (the unit tests import it),
    whose package ``v1alpha`` defines the same names in the default pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper

    out.mkdir(parents=True, exist_ok=True)
    compiled = out / "api.desc"
    done = subprocess.run(
        [sys.executable, "-m", "grpc_tools.protoc", f"-I{PROTO.parent}",
         f"--descriptor_set_out={compiled}", str(PROTO)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    files = descriptor_pb2.FileDescriptorSet.FromString(compiled.read_bytes())
    pool = descriptor_pool.DescriptorPool()
    for proto in files.file:
        pool.Add(proto)
    file = pool.FindFileByName("api.proto")
    pb = SimpleNamespace()
    for name, message in file.message_types_by_name.items():
        setattr(pb, name, message_factory.GetMessageClass(message))
    for name, enum in file.enum_types_by_name.items():
        setattr(pb, name, EnumTypeWrapper(enum))
        for value in enum.values:
            setattr(pb, value.name, value.number)
    service = file.services_by_name["PublicAPI"]

    def stub(channel: Any) -> SimpleNamespace:
        calls = SimpleNamespace()
        for method in service.methods:
            request = getattr(pb, method.input_type.name)
            response = getattr(pb, method.output_type.name)
            kind = channel.unary_stream if method.server_streaming else channel.unary_unary
            call = kind(
                f"/{service.full_name}/{method.name}",
                request_serializer=request.SerializeToString,
                response_deserializer=response.FromString,
            )
            setattr(calls, method.name, call)
        return calls

    return pb, SimpleNamespace(PublicAPIStub=stub)


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


def stub(modules: tuple[SimpleNamespace, SimpleNamespace], address: str) -> Any:
    import grpc

    channel = grpc.insecure_channel(address)
    grpc.channel_ready_future(channel).result(timeout=30)
    return modules[1].PublicAPIStub(channel)
