#!/usr/bin/env bash
# Video-generation benchmarks; `make bench` runs this. Reports timings, never fails on them.
#
#   benchmarks/run.sh            full set: 30 s and 60 s songs at draft/preview/final, compose vs floor vs MoviePy,
#                                peak memory of a 180 s song at final (about 30-45 min on 2 cores)
#   BENCH_QUICK=1 benchmarks/run.sh   (or --quick)  30 s draft only, no memory run; a smoke test of a few minutes
#
# Environment:
#   REELSMITH_BIN=path     measure that binary instead of building the release one
#   BENCH_RESULTS=path     write the report there (a quick run defaults to benchmarks/work/RESULTS-quick.md,
#                          so a smoke test never replaces the full numbers in benchmarks/RESULTS.md)
#   BENCH_NOTE=text        add a line about this run to the report
#   BENCH_QUIET_WAIT=secs  longest wait for idle CPUs before each measurement (default 600)
#   BENCH_RETRIES=n        extra runs of a measurement that other work disturbed (default 1)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
work="$here/work"
quick="${BENCH_QUICK:-0}"
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done
case "$quick" in ""|0|false|no) quick=0 ;; *) quick=1 ;; esac

# The venv is shared with the other benchmarks; only (re)install when our pins change.
venv="$here/.venv"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
stamp="$venv/.requirements-generate.installed"
if ! cmp -s "$here/requirements-generate.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet -r "$here/requirements-generate.txt"
  cp "$here/requirements-generate.txt" "$stamp"
fi

if [[ -n "${REELSMITH_BIN:-}" ]]; then
  bin="$REELSMITH_BIN"
else
  echo "run.sh: building the release binary" >&2
  (cd "$root" && swift build -c release --product reelsmith >&2)
  bin="$(cd "$root" && swift build -c release --show-bin-path)/reelsmith"
fi

mkdir -p "$work"
songs=(30)
[[ "$quick" == 1 ]] || songs=(30 60 180)
for seconds in "${songs[@]}"; do
  song="$work/song-$seconds.wav"
  [[ -s "$song" ]] || "$venv/bin/python" "$root/scripts/make_demo_track.py" "$song" "$seconds"
done

if [[ "$quick" == 1 ]]; then
  results="${BENCH_RESULTS:-$work/RESULTS-quick.md}"
  extra=(--quick)
else
  results="${BENCH_RESULTS:-$here/RESULTS.md}"
  extra=()
fi
"$venv/bin/python" "$here/bench_generate.py" --bin "$bin" --songs "$work" --work "$work" \
  --results "$results" "${extra[@]}"
echo "run.sh: results in $results" >&2
