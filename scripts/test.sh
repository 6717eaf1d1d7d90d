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
exit "$status"
