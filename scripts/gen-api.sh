#!/usr/bin/env bash
# Regenerates the gRPC code of `rkt api-service` from src/rkt/api/v1alpha.proto with grpcio-tools
# (installed into .venv by scripts/setup.sh). The output is committed: installing rocket[api]
# needs no code generator. tests/unit/test_api_generated.py fails when it is out of date.
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/python -m grpc_tools.protoc -I src --python_out=src --pyi_out=src --grpc_python_out=src \
    src/rkt/api/v1alpha.proto
