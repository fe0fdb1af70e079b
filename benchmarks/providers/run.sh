#!/usr/bin/env bash
# Provider benchmark (issue 4); `make bench` runs it. Reports, never fails on the numbers.
#
#   1. orchestration overhead: 12 scenes x 3 s generated against a stand-in of Replicate's API whose video model takes
#      exactly LATENCY s (default 2) a clip; 3 fresh runs (median) + 1 run served wholly from the cache
#   2. cost per video: `plan --estimate` for 30, 60 and 180 s songs at draft, preview and final (nothing generated)
#
# Rewrites only the "Providers" section of benchmarks/RESULTS.md (between <!-- providers:begin --> and
# <!-- providers:end -->); about 4-6 minutes on 2 cores once the binary exists.
#
#   benchmarks/providers/run.sh [--runs N] [--latency S] [--no-report]
#
# Environment:
#   REELSMITH_BIN=path     measure that binary (default: .build/release/reelsmith if newer than the sources,
#                          else it is built with `swift build -c release --product reelsmith`)
#   BENCH_RESULTS=path     write the section there instead of benchmarks/RESULTS.md
#   BENCH_QUIET_WAIT=secs  longest wait for idle CPUs before each generate run (default 120)
#   BENCH_RETRIES=n        extra runs of a generate run that other work disturbed (> 25% of the CPUs; default 1)
# Planning is rule-based and free: ANTHROPIC_*, OPENAI_*, COG_* and REPLICATE_* are dropped from the environment; the
# stand-in gets a dummy token (there are no secrets to log).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
runs=3
latency=2.0
report=1
while (($#)); do
  case "$1" in
    --runs) runs="$2"; shift 2 ;;
    --latency) latency="$2"; shift 2 ;;
    --no-report) report=0; shift ;;
    -h|--help) sed -n '2,20p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "providers/run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

command -v ffmpeg >/dev/null || { echo "providers/run.sh: ffmpeg is required (make deps)" >&2; exit 1; }

# The venv is shared with the other benchmarks (psutil, numpy for the demo songs); only (re)install when pins change.
venv="$bench/.venv"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
stamp="$venv/.requirements-generate.installed"
if ! cmp -s "$bench/requirements-generate.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet -r "$bench/requirements-generate.txt"
  cp "$bench/requirements-generate.txt" "$stamp"
fi

if [[ -n "${REELSMITH_BIN:-}" ]]; then
  bin="$REELSMITH_BIN"
else
  bin="$root/.build/release/reelsmith"
  if [[ ! -x "$bin" ]] || [[ -n "$(find "$root/Sources" "$root/Package.swift" -newer "$bin" -print -quit)" ]]; then
    echo "providers/run.sh: building the release binary" >&2
    (cd "$root" && swift build -c release --product reelsmith >&2)
    bin="$(cd "$root" && swift build -c release --show-bin-path)/reelsmith"
  fi
fi
case "$bin" in */debug/*) kind=debug ;; *) kind=release ;; esac
kind="${BENCH_BINARY_KIND:-$kind}"

work="$bench/work/providers"
mkdir -p "$work"
json="$work/results.json"
"$venv/bin/python" "$here/bench_providers.py" --bin "$bin" --work "$work" --out "$json" --runs "$runs" \
  --latency "$latency" --binary-kind "$kind"
if [[ "$report" == 1 ]]; then
  "$venv/bin/python" "$here/report.py" "$json" --results "${BENCH_RESULTS:-$bench/RESULTS.md}"
fi
