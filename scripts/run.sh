#!/usr/bin/env bash
# First command of the README: install everything, then start the hub on the embedded defaults
# (SQLite file under var/, in-process event bus, demo agents and customers). Prints the console URL.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/python -m hub demo "$@"
