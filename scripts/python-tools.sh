#!/usr/bin/env bash
# Makes the Python tools the service tests use — moto's S3 server (a real S3-compatible server on loopback) and
# schemathesis (fuzzes the HTTP API against its OpenAPI document) — in a venv at .build/pytools, and prints its path.
# Idempotent: a stamp file holds the pinned requirements the venv was made with; when they match, nothing is done.
# The versions are pinned so every machine and CI run test against the same servers (stack-notes: moto 5.2.5,
# schemathesis 4.32.5, both pure wheels).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${REELSMITH_PYTOOLS:-$PWD/.build/pytools}"
REQUIREMENTS=$'moto[server]==5.2.5\nschemathesis==4.32.5'
STAMP="$VENV/.reelsmith-requirements"

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$REQUIREMENTS" ] && [ -x "$VENV/bin/moto_server" ] && [ -x "$VENV/bin/schemathesis" ]; then
  echo "$VENV"
  exit 0
fi

PYTHON="${PYTHON:-python3}"
command -v "$PYTHON" >/dev/null 2>&1 || { echo "python-tools: $PYTHON is not on PATH (apt-get install python3 python3-venv)" >&2; exit 1; }
if ! "$PYTHON" -c 'import venv, ensurepip' >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "python-tools: installing python3-venv" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
  else
    echo "python-tools: Python's venv module is missing (apt-get install python3-venv)" >&2; exit 1
  fi
fi

echo "python-tools: making $VENV (moto, schemathesis; about 1-2 minutes the first time)" >&2
rm -f "$STAMP"
mkdir -p "$(dirname "$VENV")"
"$PYTHON" -m venv "$VENV"
# The requirements go through a file so pip sees exactly the pinned lines of the stamp.
REQ_FILE="$VENV/requirements.txt"
printf '%s\n' "$REQUIREMENTS" > "$REQ_FILE"
"$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ_FILE" >&2
"$VENV/bin/moto_server" --help >/dev/null 2>&1 || { echo "python-tools: moto_server does not run" >&2; exit 1; }
"$VENV/bin/schemathesis" --version >/dev/null 2>&1 || { echo "python-tools: schemathesis does not run" >&2; exit 1; }
# Written last: an interrupted install leaves no stamp, so the next run starts again.
printf '%s' "$REQUIREMENTS" > "$STAMP"
echo "$VENV"
