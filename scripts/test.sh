#!/usr/bin/env bash
# Sets up and runs the whole test suite: lint, types, unit, differential and integration tests.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

venv=.venv/bin
lint=.venv-lint/bin
echo "== ruff format --check"
"$lint/ruff" format --check src tests bench
echo "== ruff check"
"$lint/ruff" check src tests bench
echo "== mypy"
"$lint/mypy"
echo "== pytest"
set +e
"$venv/python" -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
# pytest exits 5 when it collected no tests; a run that tests nothing must not pass.
if [ "$status" -eq 5 ]; then
    echo "test: pytest collected no tests" >&2
    exit 1
fi
if [ "$status" -ne 0 ] || [ "$#" -ne 0 ]; then
    exit "$status"
fi
# The pod tests once more against rkt-stage1 built with AddressSanitizer and
# UndefinedBehaviorSanitizer (tests/native.py): a memory or UB error in the compiled monitor or
# PID 1 fails them (exit 99 from the sanitizer's report).
echo "== pod tests against the sanitizer build of rkt-stage1"
sanitized="$(mktemp -d)/rkt-stage1"
trap 'rm -rf "$(dirname "$sanitized")"' EXIT
"$venv/python" -c 'import sys; from pathlib import Path; from tests.native import compile_sanitized; compile_sanitized(Path(sys.argv[1]))' "$sanitized"
RKT_STAGE1_BINARY="$sanitized" \
    ASAN_OPTIONS="detect_leaks=0:exitcode=99" UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:exitcode=99" \
    "$venv/python" -m pytest -q -p no:cacheprovider \
    tests/integration/test_stage1_run.py tests/integration/test_stage1_events.py \
    tests/integration/test_run_interactive.py tests/integration/test_enter_stop.py \
    tests/integration/test_host_doors.py tests/integration/test_pod_lifecycle.py \
    tests/integration/test_run_net.py tests/integration/test_private_users.py
