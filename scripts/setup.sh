#!/usr/bin/env bash
# Install everything crmhub needs on a fresh machine: venv + pip, npm packages, and (for tests)
# Debian's chromium and dovecot-imapd. Safe to run again: each step is skipped when done.
set -euo pipefail
cd "$(dirname "$0")/.."
WITH_TEST_TOOLS="${1:-}"

PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"

if [ ! -f node_modules/socket.io-client/dist/socket.io.min.js ] || [ package-lock.json -nt node_modules ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

if [ "$WITH_TEST_TOOLS" = "--test" ]; then
  missing=()
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/sbin/dovecot ] || missing+=(dovecot-imapd)
  # Chinese glyphs for the zh-CN console and widget in browser tests and screenshots.
  [ -f /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
  if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = "0" ]; then
      echo "installing ${missing[*]} from Debian's packages" >&2
      export DEBIAN_FRONTEND=noninteractive
      apt-get update -qq >/dev/null
      apt-get install -y -qq "${missing[@]}" >/dev/null
    else
      echo "warning: ${missing[*]} not installed (run as root or: sudo apt-get install ${missing[*]})" >&2
    fi
  fi
fi
