#!/usr/bin/env python3
"""Whole-process speed of beat tracking a 3-minute song: Reelsmith vs librosa vs aubio, side by side.

Usage:
    speed.py [--song WAV] [--workdir DIR] [--reelsmith PATH] [--python PY] [--reps 5] [--out speed.json]
             [--markdown speed.md]

Without --song it renders a 180 s song (MIDI through fluidsynth, 44.1 kHz stereo: an intro without drums, then a
groove with fills, crashes and a melody) into WORKDIR/song-180.wav with make_set.py's machinery.

Timed, each as one whole process from start to exit, interleaved round-robin, `--reps` times, median reported:
  reelsmith  PATH beats SONG
  librosa    PY -c 'import librosa; y, sr = librosa.load(SONG); librosa.beat.beat_track(y=y, sr=sr)'
             (run once untimed first so numba's on-disk cache is warm)
  aubio      aubiotrack -i SONG
Peak RSS of each process comes from wait4. The issue's goal: Reelsmith at most 1/20 of librosa's time and no slower
than aubio.
"""
import argparse
import json
import os
import shutil
import statistics
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from evaluate import default_reelsmith, librosa_env, run_measured  # noqa: E402

LIBROSA_CODE = ("import sys, librosa; y, sr = librosa.load(sys.argv[1]); "
                "librosa.beat.beat_track(y=y, sr=sr)")


def make_song(path, seconds=180):
    import make_set as ms
    spec = {"name": "song", "category": "song", "meter": "4/4", "style": "pop16", "bpm": 118, "prog": "pop",
            "seconds": seconds, "nodrums": (0, 0.06)}
    song, _ = ms.compose(spec, ms.seed_for("speed-song"))
    mid = path[:-4] + ".mid"
    song.write(mid)
    ms.render(mid, path, ms.find_soundfont(), 44100)
    ms.finish_audio(path, seconds, None, 0)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--song")
    ap.add_argument("--workdir", default=os.path.join(os.path.dirname(HERE), "work", "beats-speed"))
    ap.add_argument("--reelsmith", default=None)
    ap.add_argument("--python", default=sys.executable)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--out")
    ap.add_argument("--markdown")
    args = ap.parse_args(argv)

    song = args.song
    if not song:
        os.makedirs(args.workdir, exist_ok=True)
        song = os.path.join(args.workdir, "song-180.wav")
        if not os.path.exists(song):
            print(f"rendering {song} ...", file=sys.stderr)
            make_song(song)
    import wave
    with wave.open(song) as w:
        seconds = w.getnframes() / w.getframerate()
        fmt = f"{w.getframerate()} Hz, {w.getnchannels()} ch, {8 * w.getsampwidth()}-bit WAV"

    reelsmith = args.reelsmith or default_reelsmith()
    cmds = {"reelsmith": [reelsmith, "beats", song, "--no-cache"],  # the analysis itself, not a cache hit
            "librosa": [args.python, "-c", LIBROSA_CODE, song]}
    if shutil.which("aubiotrack"):
        cmds["aubio"] = [shutil.which("aubiotrack"), "-i", song]

    print("warming librosa (numba cache) ...", file=sys.stderr)
    _, err, code, warm, _, _ = run_measured(cmds["librosa"], env=librosa_env())
    if code != 0:
        sys.exit("librosa failed: " + err.decode()[-1000:])

    times = {k: [] for k in cmds}
    rss = {k: [] for k in cmds}
    cpu = {k: [] for k in cmds}
    for rep in range(args.reps):
        for name, cmd in cmds.items():
            _, err, code, wall, mem, cs = run_measured(cmd, env=librosa_env() if name == "librosa" else None)
            if code != 0:
                sys.exit(f"{name} failed (exit {code}): {err.decode()[-1000:]}")
            times[name].append(wall)
            rss[name].append(mem)
            cpu[name].append(cs)
            print(f"rep {rep + 1}: {name} {wall:.3f} s wall, {cs:.3f} s CPU, {mem:.0f} MB", file=sys.stderr)

    med = {k: statistics.median(v) for k, v in times.items()}
    res = {
        "song": os.path.abspath(song), "seconds": seconds, "format": fmt, "reps": args.reps,
        "librosaFirstRun": warm, "loadavg": os.getloadavg(),
        "commands": {k: " ".join(v) for k, v in cmds.items()},
        "tools": {k: {"median": med[k], "min": min(times[k]), "max": max(times[k]), "times": times[k],
                      "cpuMedian": statistics.median(cpu[k]), "cpu": cpu[k], "peakRssMB": max(rss[k])} for k in cmds},
    }
    r = med["reelsmith"]
    res["librosaOverReelsmith"] = med["librosa"] / r
    res["goalLibrosa"] = r <= med["librosa"] / 20
    if "aubio" in med:
        res["aubioOverReelsmith"] = med["aubio"] / r
        res["goalAubio"] = r <= med["aubio"]

    lines = [f"**Whole-process time on a {seconds:.0f} s song** ({fmt}; {args.reps} runs each, interleaved; "
             f"median, min–max)\n",
             "| tool | command | median wall (s) | min–max (s) | median CPU (s) | peak RSS (MB) | × Reelsmith's time |",
             "|---|---|---:|---:|---:|---:|---:|"]
    shown = {"reelsmith": f"`reelsmith beats song.wav --no-cache`",
             "librosa": "`python -c 'import librosa; y, sr = librosa.load(song); librosa.beat.beat_track(y=y, sr=sr)'`"
                        " (numba cache warm)",
             "aubio": "`aubiotrack -i song.wav`"}
    for k in cmds:
        t = res["tools"][k]
        lines.append(f"| {k} | {shown[k]} | {t['median']:.3f} | {t['min']:.3f}–{t['max']:.3f} | {t['cpuMedian']:.3f} | "
                     f"{t['peakRssMB']:.0f} | {t['median'] / r:.2f} |")
    lines.append("")
    lines.append(f"- goal: Reelsmith ≤ 1/20 of librosa ({med['librosa'] / 20:.3f} s): "
                 f"{'met' if res['goalLibrosa'] else 'NOT met'} (librosa takes {res['librosaOverReelsmith']:.1f}× "
                 f"Reelsmith's time; needs ≥ 20×)")
    if "aubio" in med:
        lines.append(f"- goal: Reelsmith no slower than aubio ({med['aubio']:.3f} s): "
                     f"{'met' if res['goalAubio'] else 'NOT met'}")
    lines.append(f"- load average during the run: {', '.join(f'{x:.2f}' for x in res['loadavg'])} "
                 f"(2-core machine; librosa's first, cold run took {warm:.1f} s)")
    md = "\n".join(lines) + "\n"
    print(md)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(res, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
