#!/usr/bin/env bash
# Installs everything the test suite needs on a fresh Debian/Ubuntu machine, then runs it.
# (README's test command; .ci/run calls exactly this.)
set -euo pipefail
cd "$(dirname "$0")/.."

# promtool and a real Prometheus server (Debian package 'prometheus') for the telemetry tests.
if ! command -v promtool >/dev/null || ! command -v prometheus >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi

# Debian's chromium for the report's headless-browser tests (tests/support/browser.py drives it with Playwright,
# which must never download a browser of its own).
if ! command -v chromium >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
# Debian's postgresql for the peer benchmark's private server (tests/system/test_private_postgres.py).
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi
export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

python3 -m venv .venv
.venv/bin/pip install -q -e '.[test]'
# W&B's own schema check (the `sweeps` package) is the oracle of the sweep-file tests. It pins numpy<2, which
# this pyarrow cannot load with, and runs fine on numpy 2: installed without its pins (its other needs are in [test]).
.venv/bin/pip install -q --no-deps 'sweeps>=0.3'
# Four test processes (pytest-xdist), each test still on its own redis-server, ports and folders: most of a system
# test's time is spent waiting on real processes (trials, leases, start-up), so four share two CPUs well; a process
# that runs out of tests takes over another's (worksteal). TEST_PROCESSES=0 runs them in one process, one by one.
exec .venv/bin/python -m pytest -q -n "${TEST_PROCESSES:-4}" --dist worksteal "$@"
