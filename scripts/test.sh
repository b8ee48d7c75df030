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
# Every test client talks from 127.0.0.1 within one run (one REDIS_PREFIX), so the
# production throttles (SPEC §5) would refuse the suite's many logins and donations.
# The throttle tests set their own small limits (tests/support/throttles.py).
for limit in LOGIN_ACCOUNT LOGIN_IP SIGNUP_IP SIGNUP_ATTEMPT_IP DONATION_IP \
  DONATION_ACCOUNT OVERLAY_TEST_ACCOUNT WEBHOOK_TEST_ACCOUNT WEBHOOK_CREATE_ACCOUNT; do
  var="THROTTLE_$limit"
  export "$var=${!var:-100000/60}"
done
.venv/bin/python -m pytest "$@"
status=$?
if [ "$status" -eq 5 ]; then
  echo "pytest ran no tests: failing" >&2
  exit 1
fi
exit "$status"
