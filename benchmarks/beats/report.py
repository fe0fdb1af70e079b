#!/usr/bin/env python3
"""Write the beat-tracking section of benchmarks/RESULTS.md from evaluate.py's and speed.py's output.

Usage:
    report.py --results results.json --tables tables.md [--speed speed.json --speed-tables speed.md] --into RESULTS.md

Only the text between `<!-- beats:begin -->` and `<!-- beats:end -->` is replaced (the section is appended when the
markers are missing, the file created when it is missing); everything else in the file is kept as it was.
"""
import argparse
import datetime
import json
import os
import subprocess
import tempfile

BEGIN, END = "<!-- beats:begin -->", "<!-- beats:end -->"


def sh(cmd, cwd=None):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, timeout=30).stdout.strip()
    except Exception:
        return ""


def rel(path, root):
    try:
        r = os.path.relpath(path, root)
        return path if r.startswith("..") else r
    except ValueError:
        return path


def section(results, tables, speed, speed_tables, root):
    r = results
    v = r["versions"]
    cats = {}
    for f in r["files"]:
        cats[f["category"]] = cats.get(f["category"], 0) + 1
    commit = sh(["git", "rev-parse", "--short", "HEAD"], cwd=root) or "no commit yet"
    dirty = " plus uncommitted changes" if sh(["git", "status", "--porcelain", "--", "Sources"], cwd=root) else ""
    ident = []
    if r.get("sourcesDigest"):
        ident.append(f"Sources digest {r['sourcesDigest']}")
    if r.get("reelsmithSha256"):
        ident.append(f"binary sha256 {r['reelsmithSha256'][:12]}")
    if ident:
        dirty += " (" + ", ".join(ident) + ")"
    fluid = sh(["dpkg-query", "-W", "-f", "${Version}", "fluidsynth"]) or "?"
    sf = sh(["dpkg-query", "-W", "-f", "${Version}", "timgm6mb-soundfont"]) or "?"
    set_dir = rel(r["set"], root)
    la = r.get("loadavg")
    load = f"{la[0]:.1f} at the start of scoring and {la[1]:.1f} at its end" if la else "not recorded"
    binary = rel(r["reelsmith"], root)
    if binary.startswith("benchmarks/work/beats-bin"):
        binary = ".build/release/reelsmith"  # run.sh scores a private copy of it
    out = [BEGIN, "## Beat tracking", ""]
    out.append(f"Measured {datetime.date.today().isoformat()} on {r['machine']['cpus']} cores "
               f"(`{r['machine']['platform']}`), Reelsmith at {commit}{dirty}, release build. 1-minute load average {load} "
               "(other work shares this machine, so wall times carry noise; CPU times less). "
               "Reproduce everything with `benchmarks/beats/run.sh`, which ran:")
    out.append("")
    out.append("```sh")
    out.append(f"python3 benchmarks/beats/make_set.py {set_dir}")
    out.append(f"benchmarks/.venv/bin/python benchmarks/beats/evaluate.py {set_dir} --reelsmith {binary} "
               f"--out {set_dir}/results.json")
    if speed:
        out.append(f"benchmarks/.venv/bin/python benchmarks/beats/speed.py --reelsmith {binary} --reps {speed['reps']}")
    out.append("```")
    out.append("")
    out.append(f"**The set**: {r['excerpts']} excerpts, {r['audioMinutes']:.1f} minutes, made by `make_set.py` (seeded, "
               "deterministic): General MIDI songs (drums on channel 10, bass, chords, pad, lead; humanised velocities "
               "and ±3–8 ms timing) rendered by fluidsynth " + fluid + " with the TimGM6mb soundfont (Debian "
               f"`timgm6mb-soundfont` {sf}: 5.4 MB download, 6 MB installed) at 22050 Hz. Beat and downbeat times come "
               "from the MIDI tempo map; the beat is the quarter note (swing too) and the dotted quarter in 6/8. "
               "Categories: " + ", ".join(f"{c} ({n})" for c, n in cats.items()) + ".")
    out.append("")
    out.append("**Scoring** as mir_eval does (mir_eval " + v.get("mir_eval", "?") + "): `trim_beats` drops the first "
               "5 s of truth and estimate, then `f_measure` (70 ms), `continuity` (CMLt, AMLt); downbeat F is "
               "`f_measure` on the trimmed downbeats. Means are over excerpts. Tools: Reelsmith `beats --json`; "
               f"librosa {v.get('librosa', '?')} (numba {v.get('numba', '?')}) `load` + `beat.beat_track(units='time')`; "
               f"aubio {v.get('aubio', '?')} `aubiotrack -i FILE` (defaults). A tempo is correct within 4% of the "
               "truth (any tempo a drifting or changing excerpt passes through); estimated tempo for aubio is 60 / median "
               "inter-beat interval.")
    out.append("")
    out.append("### Accuracy")
    out.append("")
    out.append(tables.strip())
    out.append("")
    if speed:
        out.append("### Speed: a 3-minute song, whole process")
        out.append("")
        out.append(speed_tables.strip())
        out.append("")
    out.append(END)
    return "\n".join(out) + "\n"


def splice(text, sec):
    if BEGIN in text and END in text and text.index(BEGIN) < text.index(END):
        a = text.index(BEGIN)
        b = text.index(END) + len(END)
        if b < len(text) and text[b] == "\n":
            b += 1
        return text[:a] + sec + text[b:]
    if not text.strip():
        return "# Benchmarks\n\n" + sec
    return text.rstrip("\n") + "\n\n" + sec


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--tables", required=True)
    ap.add_argument("--speed")
    ap.add_argument("--speed-tables")
    ap.add_argument("--into", required=True)
    args = ap.parse_args(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    results = json.load(open(args.results))
    tables = open(args.tables).read()
    speed = json.load(open(args.speed)) if args.speed else None
    speed_tables = open(args.speed_tables).read() if args.speed_tables else ""
    sec = section(results, tables, speed, speed_tables, root)
    # Read-modify-write as late and as briefly as possible: another benchmark writes its own section of this file.
    text = open(args.into).read() if os.path.exists(args.into) else ""
    new = splice(text, sec)
    d = os.path.dirname(os.path.abspath(args.into))
    fd, tmp = tempfile.mkstemp(dir=d, prefix=".RESULTS.", suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        f.write(new)
    os.chmod(tmp, 0o644)
    os.replace(tmp, args.into)


if __name__ == "__main__":
    main()
