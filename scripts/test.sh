#!/usr/bin/env bash
# `make test`: one debug build (library, tests and the reelsmith binary the CLI tests run), then every test.
# Prints how long each phase took.
set -euo pipefail
cd "$(dirname "$0")/.."

phase() { printf 'test: %-6s %4d s\n' "$1" "$2"; }

# The beat-tracking accuracy test renders MIDI with fluidsynth and a General MIDI soundfont; the store and queue
# tests run on a real PostgreSQL (a throwaway cluster the tests start); S3 tests talk to moto's server and the API is
# fuzzed with schemathesis (both from PyPI, in .build/pytools).
scripts/install-deps.sh fluidsynth timgm6mb-soundfont postgresql
scripts/python-tools.sh >/dev/null

t0=$(date +%s)
echo "test: building (debug)"
swift build --build-tests 2>&1 | grep -v -E '^\[[0-9]+/[0-9]+\]' || { echo "test: build failed" >&2; exit 1; }
t1=$(date +%s)
phase build $((t1 - t0))

status=0
# Per-test "started/passed" lines go to the log only; failures, suites and the closing summary are shown.
run_tests() {
  swift test --skip-build --parallel "$@" 2>&1 | tee -a .build/test-output.log \
    | awk '!(/^◇ / || /^↳ / || (/^✔ Test / && !/^✔ Test run with/))' || status=${PIPESTATUS[0]}
}
: > .build/test-output.log
# The provider tests talk to loopback servers on Swift concurrency's threads (one per core). They run first, on
# their own, so the CPU-bound analysis tests cannot keep those threads busy while a fake's clock runs.
run_tests --filter ReelProvidersTests
t2=$(date +%s)
phase providers $((t2 - t1))
run_tests --skip ReelProvidersTests
t3=$(date +%s)
phase tests $((t3 - t2))
# The running server against its own OpenAPI document.
tests/schemathesis.sh 2>&1 | tee -a .build/test-output.log | tail -n 25 || status=1
t4=$(date +%s)
phase fuzz $((t4 - t3))
exit "$status"
