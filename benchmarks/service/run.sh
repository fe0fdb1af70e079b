#!/usr/bin/env bash
# Service benchmark (issue 5). Reports, never fails on the numbers.
#
#   1. GET /api/jobs/{id} under wrk on loopback: requests/s and p50/p90/p99, on SQLite and on PostgreSQL (a throwaway
#      cluster made with initdb; needs the `postgresql` package)
#   2. jobs per minute with 1, 2 and 4 workers against benchmarks/providers/standin_replicate.py (fixed latency)
#   3. soak (soak.py): many jobs on PostgreSQL, workers killed at random, provider faults injected, the API read under
#      load: jobs lost, paid work repeated, API p99
#
# Rewrites only the "Service" section of benchmarks/RESULTS.md (between <!-- service:begin --> and
# <!-- service:end -->); about 3-5 minutes on 2 cores once the binary exists.
#
#   benchmarks/service/run.sh [--duration S] [--connections 16,64] [--databases sqlite,postgresql] [--latency S] [--jobs N]
#                             [--workers 1,2,4] [--skip-read] [--skip-jobs] [--skip-soak] [--soak-jobs N] [--no-report]
#
# Environment:
#   REELSMITH_BIN=path     measure that binary (default: .build/release/reelsmith if newer than the sources,
#                          else it is built with `swift build -c release --product reelsmith`)
#   BENCH_RESULTS=path     write the section there instead of benchmarks/RESULTS.md
# Needs wrk (apt-get install -y wrk), ffmpeg and python3 (standard library only).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
report=1
soak=1
soak_extra=()
extra=()
while (($#)); do
  case "$1" in
    --duration|--latency|--jobs|--workers|--connections|--video-seconds|--databases) extra+=("$1" "$2"); shift 2 ;;
    --skip-read|--skip-jobs) extra+=("$1"); shift ;;
    --skip-soak) soak=0; shift ;;
    --soak-jobs) soak_extra+=(--jobs "$2"); shift 2 ;;
    --no-report) report=0; shift ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "service/run.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

# wrk and PostgreSQL from the system packages (installed when missing, as `make test` does).
"$root/scripts/install-deps.sh" wrk postgresql
command -v wrk >/dev/null || { echo "service/run.sh: wrk is required (apt-get install -y wrk)" >&2; exit 1; }
command -v ffmpeg >/dev/null || { echo "service/run.sh: ffmpeg is required (make deps)" >&2; exit 1; }

if [[ -n "${REELSMITH_BIN:-}" ]]; then
  bin="$REELSMITH_BIN"
else
  bin="$root/.build/release/reelsmith"
  if [[ ! -x "$bin" ]] || [[ -n "$(find "$root/Sources" "$root/Package.swift" -newer "$bin" -print -quit)" ]]; then
    echo "service/run.sh: building the release binary" >&2
    (cd "$root" && swift build -c release --product reelsmith >&2)
    bin="$(cd "$root" && swift build -c release --show-bin-path)/reelsmith"
  fi
fi
case "$bin" in */debug/*) kind=debug ;; *) kind=release ;; esac
kind="${BENCH_BINARY_KIND:-$kind}"

work="$bench/work/service"
mkdir -p "$work"
json="$work/results.json"
rm -f "$json"
if [[ " ${extra[*]-} " != *" --skip-read "* || " ${extra[*]-} " != *" --skip-jobs "* ]]; then
  python3 "$here/bench_service.py" --bin "$bin" --work "$work" --out "$json" --binary-kind "$kind" ${extra[@]+"${extra[@]}"}
fi
soak_json="$work/soak.json"
rm -f "$soak_json"
if [[ "$soak" == 1 ]]; then
  python3 "$here/soak.py" --bin "$bin" --work "$work/soak" --out "$soak_json" --binary-kind "$kind" ${soak_extra[@]+"${soak_extra[@]}"}
fi
if [[ "$report" == 1 ]]; then
  # baseline.json: the read numbers before the issue-5 read-path work, shown for comparison.
  python3 "$here/report.py" "$json" --soak "$soak_json" --results "${BENCH_RESULTS:-$bench/RESULTS.md}" --baseline "$here/baseline.json"
fi
