#!/usr/bin/env bash
# Beat-tracking benchmark: Reelsmith vs librosa vs aubio on the rendered-MIDI evaluation set, plus the 3-minute
# whole-process speed comparison. Rewrites only its own section of benchmarks/RESULTS.md
# (between <!-- beats:begin --> and <!-- beats:end -->).
#
#   benchmarks/beats/run.sh           full set (39 excerpts, ~17 min of audio) and speed; about 5 minutes on 2 cores
#   benchmarks/beats/run.sh --quick   the 6-excerpt quick slice only, no speed run; prints the tables and leaves
#                                     RESULTS.md alone (results in benchmarks/work/beats-quick/)
#   --no-speed                        skip speed.py
#
# Environment: REELSMITH_BIN=path scores that binary instead of building the release one; SPEED_REPS (default 5).
# Installs what it lacks: fluidsynth, timgm6mb-soundfont, aubio-tools, ffmpeg (apt); librosa and mir_eval into the
# shared venv benchmarks/.venv (pins in benchmarks/beats/requirements.txt).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
bench="$(dirname "$here")"
root="$(dirname "$bench")"
quick=0
speed=1
for arg in "$@"; do
  case "$arg" in
    --quick) quick=1; speed=0 ;;
    --no-speed) speed=0 ;;
    -h|--help) sed -n '2,14p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) echo "run.sh: unknown argument '$arg' (try --help)" >&2; exit 2 ;;
  esac
done

# System packages.
need=()
command -v fluidsynth >/dev/null || need+=(fluidsynth)
[[ -e /usr/share/sounds/sf2/TimGM6mb.sf2 || -n "${REELSMITH_SOUNDFONT:-}" ]] || need+=(timgm6mb-soundfont)
command -v aubiotrack >/dev/null || need+=(aubio-tools)
command -v ffmpeg >/dev/null || need+=(ffmpeg)
if ((${#need[@]})); then
  echo "run.sh: installing ${need[*]}" >&2
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >&2
fi

# The venv is shared with the other benchmarks; only (re)install when our pins change.
venv="$bench/.venv"
[[ -x "$venv/bin/python" ]] || python3 -m venv "$venv"
stamp="$venv/.requirements-beats.installed"
if ! cmp -s "$here/requirements.txt" "$stamp"; then
  "$venv/bin/pip" install --quiet -r "$here/requirements.txt"
  cp "$here/requirements.txt" "$stamp"
fi
py="$venv/bin/python"

if [[ -n "${REELSMITH_BIN:-}" ]]; then
  bin="$REELSMITH_BIN"
else
  echo "run.sh: building the release binary" >&2
  # Sources edited during the build make SwiftPM fail ("modified during the build"): try again a few times.
  for try in 1 2 3; do
    (cd "$root" && swift build -c release --product reelsmith >&2) && break
    ((try < 3)) || { echo "run.sh: the release build failed" >&2; exit 1; }
    sleep 5
  done
  bin="$(cd "$root" && swift build -c release --show-bin-path)/reelsmith"
  # What the binary was built from (there may be no commit to name): a digest of Sources/.
  export BEATS_SOURCES_DIGEST="$(cd "$root" && find Sources -type f -name '*.swift' | LC_ALL=C sort | xargs cat | sha256sum | cut -c1-12)"
fi
# Score a private copy: other builds may replace .build/release/reelsmith while this runs.
mkdir -p "$bench/work/beats-bin"
cp "$bin" "$bench/work/beats-bin/reelsmith"
bin="$bench/work/beats-bin/reelsmith"

if ((quick)); then
  set_dir="$bench/work/beats-quick"; gen_flags=(--quick)
else
  set_dir="$bench/work/beats"; gen_flags=()
fi
# The set is deterministic: regenerate only when the generator changed.
if [[ ! -e "$set_dir/truth.json" || "$here/make_set.py" -nt "$set_dir/truth.json" ]]; then
  echo "run.sh: rendering the evaluation set into $set_dir" >&2
  rm -rf "$set_dir"
  python3 "$here/make_set.py" "$set_dir" "${gen_flags[@]}"
fi

echo "run.sh: scoring Reelsmith, librosa and aubio" >&2
"$py" "$here/evaluate.py" "$set_dir" --reelsmith "$bin" --out "$set_dir/results.json" \
  --markdown "$set_dir/tables.md" >/dev/null
cat "$set_dir/tables.md"
((quick)) && exit 0

speed_md=""
if ((speed)); then
  echo "run.sh: 3-minute speed comparison" >&2
  "$py" "$here/speed.py" --reelsmith "$bin" --reps "${SPEED_REPS:-5}" --workdir "$bench/work/beats-speed" \
    --out "$bench/work/beats-speed/speed.json" --markdown "$bench/work/beats-speed/speed.md" >/dev/null
  speed_md="$bench/work/beats-speed/speed.md"
  cat "$speed_md"
fi

"$py" "$here/report.py" --results "$set_dir/results.json" --tables "$set_dir/tables.md" \
  ${speed_md:+--speed "$bench/work/beats-speed/speed.json" --speed-tables "$speed_md"} \
  --into "$bench/RESULTS.md"
echo "run.sh: wrote the beats section of $bench/RESULTS.md" >&2
