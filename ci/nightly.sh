#!/usr/bin/env bash
# What a scheduler (cron, GitHub Actions, a CI nightly) calls.
#   QFUZZ_NIGHTLY_SECONDS  wall-clock budget (default 3600)
#   QFUZZ_JOBS             worker processes (default: every core)
#   QFUZZ_REPORT           report directory (default reports/nightly)
# Exit status: 0 clean, 1 new unexplained failure or missed canary, 2 infrastructure error.
set -uo pipefail
cd "$(dirname "$0")/.."
if [ ! -x .venv/bin/qfuzz ]; then
  python3 -m venv .venv && .venv/bin/pip install -q . || exit 2
fi
exec .venv/bin/qfuzz nightly \
  --time "${QFUZZ_NIGHTLY_SECONDS:-3600}" \
  --jobs "${QFUZZ_JOBS:-$(nproc)}" \
  --report "${QFUZZ_REPORT:-reports/nightly}" \
  --corpus corpus
