#!/usr/bin/env bash
# Runs every benchmark in bench/ (bench/bench_*.py) with DEBUG=1, against the
# services that scripts/services.py started (make bench). Benchmarks are not tests:
# they print numbers, they do not assert speed.
set -eu
cd "$(dirname "$0")/.."
export DEBUG=1
export PYTHONDONTWRITEBYTECODE=1
status=0
for script in bench/bench_*.py; do
  echo "== $script"
  .venv/bin/python "$script" || status=$?
done
exit "$status"
