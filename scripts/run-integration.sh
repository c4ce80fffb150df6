#!/bin/sh
# Run the integration tests (real clients against a real `roost serve`) with
# Debian's python3 and pytest. pytest prints the closing summary line.
set -u
cd "$(dirname "$0")/.."
PY=/usr/bin/python3
[ -x "$PY" ] || PY=python3
exec "$PY" -m pytest -q -p no:cacheprovider tests/integration "$@"
