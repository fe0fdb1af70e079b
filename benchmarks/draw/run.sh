#!/usr/bin/env bash
# Drawing benchmark of the offline scenes (issue 19); `make bench` runs it. Reports timings, never fails on them.
#
# Environment:
#   REELSMITH_BIN=path, DRAWBENCH_BIN=path   measure these binaries instead of building the release ones
#   REELSMITH_OLD_BIN=path                   also time the 30 s draft with an earlier binary (the abstract motifs)
#   BENCH_BUILD=text                         what kind of build the binaries are (default: release)
#   BENCH_RESULTS=path                       write the report there (default benchmarks/RESULTS.md)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
work="$bench/work/draw"
mkdir -p "$work"
if [[ -z "${REELSMITH_BIN:-}" || -z "${DRAWBENCH_BIN:-}" ]]; then
  echo "draw/run.sh: building the release binaries" >&2
  (cd "$root" && swift build -c release --product reelsmith >&2 && swift build -c release --product reelsmith-drawbench >&2)
  bin_dir="$(cd "$root" && swift build -c release --show-bin-path)"
fi
song="$work/song-30.wav"
[[ -s "$song" ]] || python3 "$root/scripts/make_demo_track.py" "$song" 30
python3 "$bench/bench_draw.py" --bin "${REELSMITH_BIN:-$bin_dir/reelsmith}" --drawbench "${DRAWBENCH_BIN:-$bin_dir/reelsmith-drawbench}" \
  --song "$song" --work "$work" --build "${BENCH_BUILD:-release}" --results "${BENCH_RESULTS:-$bench/RESULTS.md}"
