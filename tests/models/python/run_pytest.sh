#!/usr/bin/env bash
# CTest's entry to the formats tests: pytest from the venv of scripts/lib/pyenv.sh.
# Needs MODELCAST_TEST_MODELS (scripts/make-test-models' folder; scripts/test sets it);
# fails at once, before touching the venv, when it is missing.
# Usage: run_pytest.sh PYTEST_ARGS...
set -euo pipefail
if [ -z "${MODELCAST_TEST_MODELS:-}" ]; then
  echo "error: MODELCAST_TEST_MODELS is not set: run scripts/make-test-models DIR and export" \
    "MODELCAST_TEST_MODELS=DIR (scripts/test does both)" >&2
  exit 1
fi
source "$(dirname "$0")/../../../scripts/lib/pyenv.sh"
pyenv_ready
cd "$(dirname "$0")"
export PYTHONDONTWRITEBYTECODE=1  # no __pycache__ in the source tree
# -ra: the summary names every case that did not pass, expected failures included.
exec "$MODELCAST_VENV_PYTHON" -m pytest -p no:cacheprovider -ra "$@"
