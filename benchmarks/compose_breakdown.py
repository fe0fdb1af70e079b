#!/usr/bin/env python3
"""Where the compose step's time goes: times variants of Reelsmith's own compose ffmpeg command.

Diagnostic, not part of the default `make bench` (run.sh runs it with BENCH_BREAKDOWN=1). It runs
`reelsmith generate` once with a logging `ffmpeg` shim first on PATH, so it replays the exact compose
command Reelsmith ran rather than a re-implementation of TimelineRenderer that could drift from it.
Each variant removes or isolates one part of that command; the table gives wall and CPU seconds
(CPU/wall near the core count means the cores were busy; near 1 means one thread was the bottleneck)
and the ffmpeg process's peak RSS.

Usage: compose_breakdown.py --bin REELSMITH --song SONG.wav --seconds 30 --preset final --work DIR [--results RESULTS.md]
"""
import argparse
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bench_generate import ASPECT, PRESETS, PROMPT, SEED, log, wait_for_quiet

BEGIN, END = "<!-- compose-breakdown:begin -->", "<!-- compose-breakdown:end -->"
WORK_LOG = "/dev/null"  # ffmpeg's stderr for the current variant; set in main()

SHIM = """#!/bin/sh
# Logs each ffmpeg command line as JSON, then runs the real ffmpeg.
python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@" >> "$REELSMITH_FFMPEG_LOG"
exec {real} "$@"
"""


def capture_compose(args):
    """Runs generate with the shim; returns (compose argv, manifest, clip folder)."""
    shim_dir = args.work / "shim"
    shim_dir.mkdir(parents=True, exist_ok=True)
    real = shutil.which("ffmpeg")
    (shim_dir / "ffmpeg").write_text(SHIM.format(real=shlex.quote(real)))
    (shim_dir / "ffmpeg").chmod(0o755)
    calls = args.work / "ffmpeg-calls.jsonl"
    calls.unlink(missing_ok=True)
    clips = args.work / "clips"
    shutil.rmtree(clips, ignore_errors=True)
    out = args.work / "reelsmith.mp4"
    env = dict(os.environ, PATH=f"{shim_dir}:{os.environ['PATH']}", REELSMITH_FFMPEG_LOG=str(calls))
    cmd = [str(args.bin), "generate", PROMPT, "--audio", str(args.song), "--duration", str(args.seconds),
           "--preset", args.preset, "--aspect", ASPECT, "--seed", str(SEED), "--out", str(out),
           "--work-dir", str(clips), "--json"]
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    composes = [a for a in map(json.loads, calls.read_text().splitlines()) if "[vout]" in a]
    if len(composes) != 1:
        sys.exit(f"compose_breakdown: expected one compose command, found {len(composes)}")
    manifest = json.loads((args.work / "reelsmith.manifest.json").read_text())
    return composes[0], manifest, clips


def split(argv):
    """Splits a compose argv into (inputs: list of [options..., '-i', path], graph chains, output options)."""
    inputs, pending, i = [], [], 0
    while i < len(argv) and argv[i] != "-filter_complex":
        if argv[i] == "-i":
            inputs.append(pending + ["-i", argv[i + 1]])
            pending, i = [], i + 2
        elif argv[i] in ("-ss", "-t"):
            pending += argv[i:i + 2]
            i += 2
        else:
            i += 1  # global options (-nostdin, -progress ...) are added back by run()
    graph = argv[i + 1].split(";")
    return inputs, graph, argv[i + 2:]


def drop(options, *pairs):
    """Output options without the given (option, value) pairs; a value of None drops the option whatever its value."""
    out, i = [], 0
    while i < len(options):
        if any(options[i] == o and (v is None or options[i + 1] == v) for o, v in pairs):
            i += 2
        else:
            out.append(options[i])
            i += 1
    return out


def run(name, argv, rows):
    """Runs one ffmpeg variant; appends (name, wall s, CPU s, peak RSS MiB, argv) to rows."""
    wait_for_quiet()
    with open(os.devnull, "wb") as devnull, open(WORK_LOG, "wb") as err:
        t0 = time.perf_counter()
        child = subprocess.Popen(["ffmpeg", "-nostdin", "-hide_banner", "-v", "error", "-y"] + argv,
                                 stdout=devnull, stderr=err)
        # wait4 gives this child's own CPU time and peak RSS.
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - t0
    child.returncode = os.waitstatus_to_exitcode(status)
    if child.returncode != 0:
        log(f"  {name}: FAILED: {Path(WORK_LOG).read_text().strip()[-300:]}")
        rows.append((name, None, None, None, argv))
        return
    cpu, rss = usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    log(f"  {name}: {wall:.1f} s wall, {cpu:.1f} s CPU, {rss:.0f} MiB")
    rows.append((name, wall, cpu, rss, argv))


def variants(compose, finished, work):
    """(name, argv) pairs: the command as Reelsmith ran it, then one change at a time."""
    inputs, graph, outopts = split(compose)
    outopts = outopts[:-1] + [str(work / "variant.mp4")]  # the last argument is Reelsmith's temporary output
    video = [c for c in graph if "[aout]" not in c]
    audio = [c for c in graph if "[aout]" in c]
    song = inputs[-1] if audio else None
    clip_inputs = inputs[:-1] if audio else inputs
    flat = lambda xs: [x for i in xs for x in i]  # noqa: E731
    no_audio_out = drop(outopts, ("-map", "[aout]"), ("-c:a", None), ("-b:a", None), ("-ar", None))
    no_audio_out = no_audio_out[:-1] + ["-an", no_audio_out[-1]]
    null_out = ["-map", "[vout]", "-an", "-f", "null", "-"]

    def edit(pattern, repl):
        return [re.sub(pattern, repl, c) for c in video]

    v = [("as Reelsmith runs it", flat(inputs) + ["-filter_complex", ";".join(graph)] + outopts)]
    if audio:
        v.append(("without the audio (video chain + x264 only)",
                  flat(clip_inputs) + ["-filter_complex", ";".join(video)] + no_audio_out))
        a = audio[0].replace(f"[{len(clip_inputs)}:a]", "[0:a]")
        aac = [outopts[i + 1] for i, o in enumerate(outopts) if o == "-b:a"][0]
        v.append(("audio only (loudnorm chain + AAC)",
                  song + ["-filter_complex", a, "-map", "[aout]", "-c:a", "aac", "-b:a", aac, "-ar", "48000",
                          "-vn", str(work / "variant.m4a")]))
    v.append(("video chain, no encode (decode + filters)", flat(clip_inputs) + ["-filter_complex", ";".join(video)] + null_out))
    v.append(("  … scale without out_color_matrix", flat(clip_inputs) +
              ["-filter_complex", ";".join(edit(r":out_color_matrix=bt709", ""))] + null_out))
    v.append(("  … without fps,scale,crop,setsar,format per clip", flat(clip_inputs) +
              ["-filter_complex", ";".join(edit(r"fps=30,scale=[^,]*,crop=[^,]*,setsar=1,format=yuv420p,", ""))] + null_out))
    v.append(("  … without tpad", flat(clip_inputs) +
              ["-filter_complex", ";".join(edit(r"tpad=[^,]*,", ""))] + null_out))
    v.append(("  … every xfade as fade", flat(clip_inputs) +
              ["-filter_complex", ";".join(edit(r"xfade=transition=\w+", "xfade=transition=fade"))] + null_out))
    single = [["-threads", "1"] + i for i in clip_inputs]
    v.append(("  … one decoder thread per clip (-threads 1 before each -i)", flat(single) +
              ["-filter_complex", ";".join(video)] + null_out))
    maps = [x for i in range(len(clip_inputs)) for x in ("-map", f"{i}:v")]
    v.append(("decode every clip only", flat(clip_inputs) + maps + ["-f", "null", "-"]))
    v.append(("decode the finished video only (floor's input side)", ["-i", str(finished), "-an", "-f", "null", "-"]))
    return v


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--bin", type=Path, required=True)
    p.add_argument("--song", type=Path, required=True)
    p.add_argument("--seconds", type=int, default=30)
    p.add_argument("--preset", choices=list(PRESETS), default="final")
    p.add_argument("--work", type=Path, required=True)
    p.add_argument("--results", type=Path, help="RESULTS.md whose compose-breakdown section to replace")
    args = p.parse_args()
    args.work = args.work.resolve() / f"breakdown-{args.seconds}-{args.preset}"
    args.work.mkdir(parents=True, exist_ok=True)
    global WORK_LOG
    WORK_LOG = str(args.work / "variant.log")

    log(f"breakdown {args.seconds} s {args.preset}: capturing the compose command")
    compose, manifest, _ = capture_compose(args)
    rows = []
    for name, argv in variants(compose, args.work / "reelsmith.mp4", args.work):
        run(name, [str(a) for a in argv], rows)
    _, _, x264, crf, kbps = PRESETS[args.preset]
    run("floor: decode + re-encode the finished video", ["-i", str(args.work / "reelsmith.mp4"), "-c:v", "libx264",
        "-preset", x264, "-crf", str(crf), "-pix_fmt", "yuv420p", "-c:a", "aac", "-b:a", f"{kbps}k",
        "-movflags", "+faststart", str(args.work / "floor.mp4")], rows)

    scenes = manifest["plan"]["scenes"]
    kinds = [(s.get("transition") or {}).get("kind") for s in scenes[:-1]]
    lines = [BEGIN, f"## Compose breakdown ({args.seconds} s song, {args.preset}; `benchmarks/compose_breakdown.py`)", "",
             f"Run {time.strftime('%Y-%m-%d %H:%M', time.gmtime())} UTC, {os.cpu_count()} cores. {len(scenes)} scenes, "
             f"{sum(k not in (None, 'cut') for k in kinds)} xfades, {sum(k == 'cut' for k in kinds)} cuts; "
             f"`timings.compose` of that run {manifest['timings']['compose']:.1f} s. Each variant changes one thing in "
             "the exact compose command Reelsmith ran (captured through an ffmpeg shim).", "",
             "| variant | wall s | CPU s | CPU / wall | peak RSS MiB |", "|---|---:|---:|---:|---:|"]
    for name, wall, cpu, rss, _ in rows:
        if wall is None:
            lines.append(f"| {name} | failed | — | — | — |")
        else:
            lines.append(f"| {name} | {wall:.1f} | {cpu:.1f} | {cpu / wall:.2f} | {rss:.0f} |")
    lines += ["", "<details><summary>Commands</summary>", "", "```"]
    lines += ["ffmpeg -nostdin -hide_banner -v error -y " + shlex.join(argv) for *_, argv in rows]
    lines += ["```", "", "</details>", END]
    section = "\n".join(lines) + "\n"
    print(section)
    if args.results:
        text = args.results.read_text() if args.results.exists() else "# Reelsmith benchmarks\n"
        if BEGIN in text and END in text:
            head, rest = text.split(BEGIN, 1)
            text = head + section + rest.split(END, 1)[1].lstrip("\n")
        else:
            text = text.rstrip("\n") + "\n\n" + section
        args.results.write_text(text)


if __name__ == "__main__":
    main()
