#!/usr/bin/env python3
"""Drawing benchmark for the offline scene vocabulary (issue 19; `benchmarks/draw/run.sh`, part of `make bench`).

Measures, on this machine, in one run:
  1. drawing time per frame at each preset's 16:9 size (`reelsmith-drawbench`: Cairo drawing plus the copy of the
     frame's bytes piped to ffmpeg; no encoding), wall and CPU time, for four prompts;
  2. the wall time of a 30 s offline draft (`generate`, prompt 'neon city at night, rain, synthwave', seed 7, 16:9,
     the demo song) with this build and, when REELSMITH_OLD_BIN names one, with an earlier binary whose offline
     scenes are the abstract ffmpeg motion graphics — same song, same command, one after the other.

Timings are reported, never asserted. Results go between the `draw` markers of RESULTS.md.
"""
import argparse
import datetime
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path
from results_md import replace_section, git_state, cpu_name

PROMPT = "neon city at night, rain, synthwave"
BEGIN, END = "<!-- draw:begin -->", "<!-- draw:end -->"
ROOT = Path(__file__).resolve().parent.parent


def loadavg():
    return os.getloadavg()[0]


def drawing(bench, frames):
    out = subprocess.run([bench, str(frames)], capture_output=True, text=True, check=True).stdout
    return [json.loads(line) for line in out.splitlines() if line.strip()]


def generate(binary, song, work, label):
    out = work / f"draft-{label}.mp4"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = loadavg()
    t0 = time.monotonic()
    subprocess.run([binary, "generate", PROMPT, "--audio", str(song), "--duration", "30", "--preset", "draft",
                    "--aspect", "16:9", "--seed", "7", "--offline", "--out", str(out), "--json"],
                   check=True, capture_output=True, text=True, cwd=work)
    wall = time.monotonic() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    manifest = json.loads((work / f"draft-{label}.manifest.json").read_text())
    return {"wall": wall, "cpu": cpu, "timings": manifest["timings"], "scenes": len(manifest["plan"]["scenes"]),
            "load": load}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--bin", required=True, help="reelsmith binary to measure")
    ap.add_argument("--drawbench", required=True, help="reelsmith-drawbench binary")
    ap.add_argument("--old-bin", default=os.environ.get("REELSMITH_OLD_BIN"), help="an earlier reelsmith to compare with")
    ap.add_argument("--song", required=True, help="a 30 s (or longer) song")
    ap.add_argument("--work", required=True)
    ap.add_argument("--frames", type=int, default=120)
    ap.add_argument("--build", default="release", help="what kind of build --bin is (reported)")
    ap.add_argument("--results", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--note", default=os.environ.get("BENCH_NOTE", ""))
    args = ap.parse_args()
    work = Path(args.work).resolve()
    work.mkdir(parents=True, exist_ok=True)
    song = Path(args.song).resolve()
    started = datetime.datetime.now(datetime.timezone.utc)

    rows = drawing(args.drawbench, args.frames)
    runs = [("this build", generate(args.bin, song, work, "new"))]
    if args.old_bin:
        runs.append(("earlier (abstract ffmpeg motifs)", generate(args.old_bin, song, work, "old")))
    ended = datetime.datetime.now(datetime.timezone.utc)

    lines = [BEGIN, "## Offline scene drawing (animatic)", ""]
    lines.append(f"Measured {started:%Y-%m-%d %H:%M}–{ended:%H:%M} UTC on {os.cpu_count()} cores ({cpu_name()}), "
                 f"Reelsmith at {git_state()}, {args.build} build, with `benchmarks/bench_draw.py`. "
                 "Other work shared the machine: the 1-minute load average is given per row, and CPU times say more "
                 "than wall times.")
    if args.note:
        lines += ["", args.note]
    lines += ["", "**Drawing time per frame** (`reelsmith-drawbench`, %d frames per cell: Cairo drawing of the scene's "
              "layers and subjects plus the copy of its BGRA bytes; ffmpeg's encoding is not included):" % args.frames, ""]
    presets = []
    for r in rows:
        if r["preset"] not in presets:
            presets.append(r["preset"])
    prompts = []
    for r in rows:
        if r["prompt"] not in prompts:
            prompts.append(r["prompt"])
    lines.append("| prompt | layers; subjects | " + " | ".join(f"{p} {next(r['width'] for r in rows if r['preset'] == p)}×"
                                                 f"{next(r['height'] for r in rows if r['preset'] == p)} ms (CPU ms)"
                                                 for p in presets) + " |")
    lines.append("|---|---|" + "---:|" * len(presets))
    for prompt in prompts:
        cells = []
        for p in presets:
            r = next(r for r in rows if r["preset"] == p and r["prompt"] == prompt)
            cells.append(f"{r['msPerFrame']:.1f} ({r['cpuMsPerFrame']:.1f})")
        first = next(r for r in rows if r["prompt"] == prompt)
        drawn = ", ".join(first["layers"]) + "".join(f"; {s}" for s in first.get("subjects", []))
        lines.append(f"| {prompt} | {drawn} | " + " | ".join(cells) + " |")
    lines += ["", "**30 s offline draft** (960×540, `generate '%s' --audio song-30.wav --duration 30 --preset draft "
              "--seed 7 --offline`; target ≤ 30 s wall on 2 cores):" % PROMPT, "",
              "| renderer | scenes | wall s | CPU s | analyze s | generate s | compose s | load |",
              "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in runs:
        t = r["timings"]
        lines.append(f"| {name} | {r['scenes']} | {r['wall']:.1f} | {r['cpu']:.1f} | {t.get('analyze', 0):.2f} | "
                     f"{t.get('generate', 0):.1f} | {t.get('compose', 0):.1f} | {r['load']:.1f} |")
    lines.append(END)
    replace_section(Path(args.results), BEGIN, END, "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
