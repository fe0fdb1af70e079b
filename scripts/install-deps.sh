#!/usr/bin/env bash
# Installs what Reelsmith needs on a fresh Debian machine, and only what is missing:
# ffmpeg/ffprobe (all media work), FFTW and pkg-config (the STFT behind beat tracking), Cairo and a font (the offline
# scenes and storyboards), numpy (the demo song).
set -euo pipefail

need_apt=()
command -v ffmpeg >/dev/null 2>&1 && command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v pkg-config >/dev/null 2>&1 || need_apt+=(pkg-config)
pkg-config --exists fftw3f 2>/dev/null || need_apt+=(libfftw3-dev)
pkg-config --exists cairo 2>/dev/null || need_apt+=(libcairo2-dev)
# Storyboard captions need one font that fontconfig can find (fc-list itself comes with the fontconfig package).
command -v fc-list >/dev/null 2>&1 || need_apt+=(fontconfig)
dpkg -s fonts-dejavu-core >/dev/null 2>&1 || [ -n "$(fc-list 2>/dev/null | head -1)" ] || need_apt+=(fonts-dejavu-core)
for extra in "$@"; do
  dpkg -s "$extra" >/dev/null 2>&1 || need_apt+=("$extra")
done

if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "reelsmith: missing system packages: ${need_apt[*]}; install them with: sudo apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
  echo "reelsmith: installing ${need_apt[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

if ! python3 -c 'import numpy' >/dev/null 2>&1; then
  echo "reelsmith: installing numpy (for the demo song)" >&2
  python3 -m pip install --quiet numpy
fi

command -v swift >/dev/null 2>&1 || { echo "reelsmith: the Swift 6 toolchain is not on PATH" >&2; exit 1; }
