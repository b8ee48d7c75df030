#!/usr/bin/env bash
# Runs every benchmark in bench/ (bench/bench_*.py) with DEBUG=1, against the
# services that scripts/services.py started (make bench), then the realtime
# benchmark bench/run.py: this project against a Socket.IO reference, each on its own
# redis-server and two server processes, on a fresh database of the same PostgreSQL
# (results in bench/results/, see bench/README.md). Flags for bench/run.py go in
# BENCH_ARGS, e.g. BENCH_ARGS="--quick" or BENCH_ARGS="--only S1,S7 --with-5000x20".
# Then the HTTP benchmark bench/http_bench.py (wrk against a minimal Django floor, and
# the Stripe webhook burst; flags in HTTP_BENCH_ARGS), which fails the run when a check
# fails (wrong totals, error answers, a server died). Benchmarks print numbers; they do
# not assert speed.
set -eu
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
status=0
for script in bench/bench_*.py; do
  echo "== $script"
  DEBUG=1 .venv/bin/python "$script" || status=$?
done

echo "== bench/run.py ${BENCH_ARGS:-}"
if [ ! -d bench/sio/node_modules ]; then
  if command -v npm >/dev/null 2>&1; then
    (cd bench/sio && npm ci --no-audit --no-fund --loglevel error) || status=$?
  else
    echo "npm not found: the Socket.IO reference cannot run (install Node 20 + npm)" >&2
  fi
fi
# shellcheck disable=SC2086  # BENCH_ARGS is a list of flags
.venv/bin/python bench/run.py ${BENCH_ARGS:-} || status=$?

echo "== bench/http_bench.py ${HTTP_BENCH_ARGS:-}"
# shellcheck disable=SC2086  # HTTP_BENCH_ARGS is a list of flags
.venv/bin/python bench/http_bench.py ${HTTP_BENCH_ARGS:-} || status=$?
exit "$status"
