#!/usr/bin/env bash
# Fuzzes the running API against its own OpenAPI document with schemathesis (PyPI): any 5xx, any answer that breaks the
# document, or any other failed check fails this script.
#
# Starts `reelsmith serve --workers 0` (an API-only node: queued jobs are never rendered, so fuzzing starts no real
# work) on a free loopback port over a fresh REELSMITH_DATA, creates a user whose rate and job limits are raised out
# of the way, and runs `schemathesis run --checks all` with tests/schemathesis.toml.
#
# Usage: tests/schemathesis.sh [--max-examples N]   (needs .build/debug/reelsmith and scripts/python-tools.sh's venv)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
MAX_EXAMPLES=20
while [ $# -gt 0 ]; do
  case "$1" in
    --max-examples) MAX_EXAMPLES="$2"; shift 2 ;;
    *) echo "usage: $0 [--max-examples N]" >&2; exit 2 ;;
  esac
done

BIN="${REELSMITH_BIN:-$ROOT/.build/debug/reelsmith}"
ST="$ROOT/.build/pytools/bin/schemathesis"
[ -x "$BIN" ] || { echo "schemathesis.sh: $BIN is missing: run 'swift build' first" >&2; exit 1; }
if [ ! -x "$ST" ]; then
  bash "$ROOT/scripts/python-tools.sh" >&2
fi
command -v ffprobe >/dev/null || { echo "schemathesis.sh: ffprobe is missing (scripts/install-deps.sh)" >&2; exit 1; }

WORK=$(mktemp -d /tmp/reelsmith-schemathesis.XXXXXX)
SERVER_PID=""
cleanup() {
  if [ -n "$SERVER_PID" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

export REELSMITH_DATA="$WORK/data"
# Nothing from the caller's environment may point the server at shared storage or real providers.
unset DATABASE_URL S3_ENDPOINT S3_BUCKET REPLICATE_API_TOKEN OPENAI_API_KEY ANTHROPIC_API_KEY REELSMITH_CONFIG

KEY=$("$BIN" users add fuzzer 2>"$WORK/users.log" | tail -n 1)
[ -n "$KEY" ] || { cat "$WORK/users.log" >&2; echo "schemathesis.sh: could not create a user" >&2; exit 1; }
"$BIN" users limits fuzzer --rpm 100000000 --max-jobs 100000000 >/dev/null 2>>"$WORK/users.log"

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" serve --host 127.0.0.1 --port "$PORT" --workers 0 >"$WORK/serve.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then break; fi
  kill -0 "$SERVER_PID" 2>/dev/null || { cat "$WORK/serve.log" >&2; echo "schemathesis.sh: the server exited" >&2; exit 1; }
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$PORT/readyz" >/dev/null

# Two runs: schemathesis reuses ids it has seen (GET /api/keys lists the fuzzer's own key), so rotating or revoking
# keys would lock it out half-way. The first run covers everything else; the second only those two operations, where
# it knows no key ids and tries made-up ones.
fuzz() {
  # Run from the scratch folder: schemathesis keeps a cache folder (.schemathesis/) in the working directory.
  (cd "$WORK" && "$ST" --config-file "$ROOT/tests/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json" \
    -H "Authorization: Bearer $KEY" --checks all --max-examples "$MAX_EXAMPLES" --workers 1 --seed 1 \
    --request-timeout 30 --max-failures 50 --no-color "$@")
}
set +e
fuzz --exclude-operation-id revokeKey --exclude-operation-id rotateKey
STATUS=$?
fuzz --include-operation-id revokeKey --include-operation-id rotateKey
STATUS2=$?
[ $STATUS -eq 0 ] && STATUS=$STATUS2
set -e
if grep -Eq '" 5[0-9][0-9] |status=5[0-9][0-9]' "$WORK/serve.log"; then
  echo "schemathesis.sh: the server logged 5xx answers:" >&2
  grep -E '" 5[0-9][0-9] |status=5[0-9][0-9]' "$WORK/serve.log" >&2 | head -20
fi
if [ $STATUS -ne 0 ]; then
  echo "schemathesis.sh: FAILED (schemathesis exit $STATUS); server log: " >&2
  tail -n 40 "$WORK/serve.log" >&2
  exit 1
fi
echo "schemathesis: 1 passed, 0 failed"
