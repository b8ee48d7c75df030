#!/usr/bin/env bash
# Runs pytest with the test environment; DATABASE_URL and REDIS_URL come from
# scripts/services.py. pytest's "no tests ran" (exit 5) counts as a failure.
set -u
cd "$(dirname "$0")/.."
export DEBUG="${DEBUG:-1}"
# A prefix of its own for every run, so runs sharing one Redis never see each other.
export REDIS_PREFIX="${REDIS_PREFIX:-test-$$-$RANDOM}"
export PYTHONDONTWRITEBYTECODE=1
# The test process itself opens a new event loop (and thread pool) per test, whose
# threads would strand pooled connections; the servers it starts use the pool
# (tests/support/servers.py sets DATABASE_POOL=1 for them), as production does.
export DATABASE_POOL="${DATABASE_POOL:-0}"
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest ran no tests: failing" >&2
  exit 1
fi
exit "$status"
