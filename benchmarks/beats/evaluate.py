#!/usr/bin/env python3
"""Score Reelsmith, librosa and aubio against the evaluation set that make_set.py wrote.

Usage:
    evaluate.py SETDIR [--reelsmith PATH] [--out results.json] [--markdown tables.md] [--tools reelsmith,librosa,aubio]

For every excerpt in SETDIR/truth.json it runs
  - Reelsmith: `PATH beats FILE --json` as a whole process (decode included);
  - librosa:   `librosa.load(FILE)` + `librosa.beat.beat_track(y=y, sr=sr, units='time')` in one worker process
               (numba warmed on the first excerpt before anything is timed; no downbeats);
  - aubio:     `aubiotrack -i FILE` (Debian's aubio-tools, default settings) as a whole process (no downbeats);
and scores them as mir_eval does: both sequences pass through mir_eval.beat.trim_beats (drops the first 5 s), then
mir_eval.beat.f_measure (70 ms window) and mir_eval.beat.continuity (CMLt, AMLt). Downbeat F-measure is
mir_eval.beat.f_measure on the trimmed downbeats. Tempo: the estimate (Reelsmith's "tempo", librosa's returned tempo,
60 / median inter-beat interval for aubio) is "correct" within 4% of the truth (any tempo the excerpt passes through,
for drift and tempo changes); otherwise within 4% of x2, x1/2, x3, x1/3 it is an octave error, x3/2 or x2/3 a
metrical error, else "other". Median signed offset: est - truth over estimated beats within 70 ms of a true beat.
Meter: Reelsmith's {beatsPerBar, beatUnit} against the truth's (6/8 is right as {6, 8} or as 2 beats a bar).
Downbeat positions: which beat of the true bar each estimated downbeat lands on (or between beats).
Off-beat fraction: share of estimated beats nearer the midpoint between two true beats than either beat (phase
0.25-0.75 of the interval: the straight or the swung off-beat).

Time: wall time per minute of audio (sum of times / sum of durations x 60) and peak resident memory (ru_maxrss of
each process; for librosa the worker's peak, imports included).
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import warnings

TOOLS = ["reelsmith", "librosa", "aubio"]
CATEGORY_ORDER = ["steady", "swing", "syncopation", "no-drums", "drift", "tempo-change", "3/4", "6/8", "noise"]
WINDOW = 0.07


# ---------------------------------------------------------------------------------------------------------------
# Running the tools


def run_measured(cmd, env=None):
    """Run cmd; return (stdout, stderr, exit code, wall seconds, peak RSS in MB, CPU seconds) from wait4: the process
    and the children it waited for (Reelsmith's ffprobe and ffmpeg), user + system time."""
    r, w = os.pipe()
    re_, we = os.pipe()
    t0 = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        try:
            os.dup2(w, 1)
            os.dup2(we, 2)
            os.close(r)
            os.close(re_)
            if env is None:
                os.execvp(cmd[0], cmd)
            os.execvpe(cmd[0], cmd, env)
        finally:
            os._exit(127)
    os.close(w)
    os.close(we)
    chunks, errs = [], []
    import selectors
    sel = selectors.DefaultSelector()
    sel.register(r, selectors.EVENT_READ, chunks)
    sel.register(re_, selectors.EVENT_READ, errs)
    open_fds = 2
    while open_fds:
        for key, _ in sel.select():
            data = os.read(key.fd, 65536)
            if data:
                key.data.append(data)
            else:
                sel.unregister(key.fd)
                os.close(key.fd)
                open_fds -= 1
    _, status, ru = os.wait4(pid, 0)
    wall = time.perf_counter() - t0
    code = os.waitstatus_to_exitcode(status)
    return b"".join(chunks), b"".join(errs), code, wall, ru.ru_maxrss / 1024.0, ru.ru_utime + ru.ru_stime


def run_reelsmith(path, files):
    res = {}
    for f in files:
        out, err, code, wall, rss, cpu = run_measured([path, "beats", f, "--json", "--no-cache"])  # measure the analysis, not the cache
        entry = {"time": wall, "cpu": cpu, "rssMB": rss, "beats": [], "downbeats": [], "tempo": None}
        if code != 0:
            entry["error"] = f"exit {code}: {err.decode(errors='replace')[-300:]}"
        else:
            try:
                d = json.loads(out)
                entry.update(beats=d.get("beats") or [], downbeats=d.get("downbeats") or [], tempo=d.get("tempo"),
                             steady=d.get("steady"), meter=d.get("meter"))
            except ValueError as e:
                entry["error"] = f"bad JSON: {e}"
        res[f] = entry
    return res


def run_aubio(files):
    exe = shutil.which("aubiotrack")
    if not exe:
        return None
    res = {}
    for f in files:
        out, err, code, wall, rss, cpu = run_measured([exe, "-i", f])
        beats = []
        for line in out.decode().split():
            try:
                beats.append(float(line))
            except ValueError:
                pass
        entry = {"time": wall, "cpu": cpu, "rssMB": rss, "beats": beats, "downbeats": None,
                 "tempo": tempo_from_beats(beats)}
        if code != 0:
            entry["error"] = f"exit {code}"
        res[f] = entry
    return res


LIBROSA_WORKER = r"""
import json, resource, sys, time, warnings
warnings.filterwarnings("ignore")
import numpy as np
import librosa
files = json.loads(sys.stdin.read())
# Warm numba's caches and librosa's lazy imports on the first file: nothing below is timed before this.
y, sr = librosa.load(files[0]); librosa.beat.beat_track(y=y, sr=sr, units="time")
out = {}
for f in files:
    t0, c0 = time.perf_counter(), time.process_time()
    y, sr = librosa.load(f)
    tempo, beats = librosa.beat.beat_track(y=y, sr=sr, units="time")
    dt, dc = time.perf_counter() - t0, time.process_time() - c0
    out[f] = {"time": dt, "cpu": dc, "beats": [float(b) for b in beats], "tempo": float(np.atleast_1d(tempo)[0])}
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print(json.dumps({"files": out, "rssMB": rss, "librosa": librosa.__version__, "numba": __import__("numba").__version__}))
"""


def librosa_env():
    """The environment for librosa's process: where the machine sets OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (for old
    OpenBLAS builds), both are unset for that command alone, since they slow a current numpy."""
    env = dict(os.environ)
    if "OPENBLAS_CORETYPE" in env or "OPENBLAS_L2_SIZE" in env:
        env.pop("OPENBLAS_CORETYPE", None)
        env.pop("OPENBLAS_L2_SIZE", None)
    return env


def run_librosa(files, python):
    p = subprocess.run([python, "-c", LIBROSA_WORKER], input=json.dumps(files), capture_output=True, text=True,
                       env=librosa_env())
    if p.returncode != 0:
        print("librosa worker failed:\n" + p.stderr[-2000:], file=sys.stderr)
        return None, {}
    d = json.loads(p.stdout.strip().splitlines()[-1])
    res = {}
    for f in files:
        e = d["files"][f]
        res[f] = {"time": e["time"], "cpu": e["cpu"], "rssMB": d["rssMB"], "beats": e["beats"], "downbeats": None, "tempo": e["tempo"]}
    return res, {"librosa": d["librosa"], "numba": d["numba"]}


# ---------------------------------------------------------------------------------------------------------------
# Scoring


def tempo_from_beats(beats):
    if len(beats) < 3:
        return None
    ibis = [b - a for a, b in zip(beats, beats[1:])]
    m = statistics.median(ibis)
    return 60.0 / m if m > 0 else None


TEMPO_CLASSES = [("correct", 1.0), ("double", 2.0), ("half", 0.5), ("triple", 3.0), ("third", 1 / 3),
                 ("x3/2", 1.5), ("x2/3", 2 / 3)]
OCTAVE = {"double", "half", "triple", "third"}


def tempo_class(est, lo, hi):
    if not est:
        return "none"
    for name, k in TEMPO_CLASSES:
        t = est / k
        if lo * 0.96 <= t <= hi * 1.04:
            return name
    return "other"


def offsets(ref, est):
    """Signed est-ref offsets (s) of estimated beats within the window, and the off-beat share."""
    import numpy as np
    ref = np.asarray(ref)
    signed, offbeat, n = [], 0, 0
    if len(ref) < 2:
        return signed, None
    for e in est:
        i = int(np.searchsorted(ref, e))
        cands = [j for j in (i - 1, i) if 0 <= j < len(ref)]
        j = min(cands, key=lambda j: abs(ref[j] - e))
        d = e - ref[j]
        if abs(d) <= WINDOW:
            signed.append(d)
        # phase within the surrounding true interval
        if 0 < i < len(ref):
            a, b = ref[i - 1], ref[i]
            ph = (e - a) / (b - a)
            n += 1
            if 0.25 < ph < 0.75:
                offbeat += 1
    return signed, (offbeat / n if n else None)


def bar_positions(truth, est_downbeats):
    """Where estimated downbeats (already trimmed) land: a histogram of the bar position (1 = the true downbeat) of
    the true beat each is within 70 ms of, or "between" when it is near no true beat."""
    import numpy as np
    tb = np.asarray(truth["beats"], float)
    db = truth["downbeats"]
    if len(tb) < 2 or len(db) < 2:
        return None
    j0 = int(np.argmin(np.abs(tb - db[0])))
    bpb = int(round(np.argmin(np.abs(tb - db[1])) - j0))
    hist = {}
    for d in est_downbeats:
        j = int(np.argmin(np.abs(tb - d)))
        key = str((j - j0) % bpb + 1) if abs(tb[j] - d) <= WINDOW else "between"
        hist[key] = hist.get(key, 0) + 1
    return hist


def score(truth, est):
    import numpy as np
    import mir_eval
    ref = mir_eval.beat.trim_beats(np.asarray(truth["beats"], float))
    e = mir_eval.beat.trim_beats(np.asarray(sorted(est["beats"]), float))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        f = mir_eval.beat.f_measure(ref, e, f_measure_threshold=WINDOW)
        _, cmlt, _, amlt = mir_eval.beat.continuity(ref, e)
        dbf = None
        if est.get("downbeats") is not None:
            rd = mir_eval.beat.trim_beats(np.asarray(truth["downbeats"], float))
            ed = mir_eval.beat.trim_beats(np.asarray(sorted(est["downbeats"]), float))
            dbf = mir_eval.beat.f_measure(rd, ed, f_measure_threshold=WINDOW)
    lo, hi = truth.get("tempoRange", [truth["tempo"], truth["tempo"]])
    signed, offbeat = offsets(ref, e)
    positions, meter_ok = None, None
    if est.get("downbeats") is not None:
        positions = bar_positions(truth, ed)
        m = est.get("meter")
        got = f"{m.get('beatsPerBar')}/{m.get('beatUnit')}" if m else None
        # 6/8 counts as right written either way: {6, 8}, or 2 beats (dotted quarters) a bar.
        meter_ok = got == truth["meter"] or (truth["meter"] == "6/8" and bool(m) and m.get("beatsPerBar") == 2)
    return {
        "f": float(f), "cmlt": float(cmlt), "amlt": float(amlt), "dbf": None if dbf is None else float(dbf),
        "tempo": est.get("tempo"), "tempoClass": tempo_class(est.get("tempo"), lo, hi),
        "offsetMs": round(1000 * statistics.median(signed), 2) if signed else None,
        "matchedOffsetsMs": [round(1000 * s, 1) for s in signed],
        "offbeatFrac": offbeat, "nBeats": len(est["beats"]),
        "downbeatPositions": positions, "meterCorrect": meter_ok,
        "meter": (f"{est['meter'].get('beatsPerBar')}/{est['meter'].get('beatUnit')}" if est.get("meter") else None),
        "time": est["time"], "cpu": est["cpu"], "rssMB": est["rssMB"], "error": est.get("error"),
    }


def mean(xs):
    xs = [x for x in xs if x is not None]
    return sum(xs) / len(xs) if xs else None


def merge_hist(hs):
    hs = [h for h in hs if h is not None]
    if not hs:
        return None
    out = {}
    for h in hs:
        for k, v in h.items():
            out[k] = out.get(k, 0) + v
    return out


def aggregate(rows, tool):
    sc = [r["tools"][tool] for r in rows if tool in r["tools"]]
    if not sc:
        return None
    dur = sum(r["duration"] for r in rows if tool in r["tools"])
    all_off = [o for s in sc for o in s["matchedOffsetsMs"]]
    classes = {}
    for s in sc:
        classes[s["tempoClass"]] = classes.get(s["tempoClass"], 0) + 1
    return {
        "n": len(sc),
        "f": mean([s["f"] for s in sc]), "cmlt": mean([s["cmlt"] for s in sc]), "amlt": mean([s["amlt"] for s in sc]),
        "dbf": mean([s["dbf"] for s in sc]),
        "tempoClasses": classes,
        "tempoCorrect": classes.get("correct", 0), "octaveErrors": sum(classes.get(k, 0) for k in OCTAVE),
        "offsetMs": round(statistics.median(all_off), 2) if all_off else None,
        "offbeatFrac": mean([s["offbeatFrac"] for s in sc]),
        "downbeatPositions": merge_hist([s["downbeatPositions"] for s in sc]),
        "meterCorrect": (sum(1 for s in sc if s["meterCorrect"]) if any(s["meterCorrect"] is not None for s in sc)
                         else None),
        "secondsPerMinute": sum(s["time"] for s in sc) / dur * 60 if dur else None,
        "cpuSecondsPerMinute": sum(s["cpu"] for s in sc) / dur * 60 if dur else None,
        "peakRssMB": max(s["rssMB"] for s in sc),
        "errors": sum(1 for s in sc if s["error"]),
    }


# ---------------------------------------------------------------------------------------------------------------
# Tables


def fmt(x, nd=3):
    return "n/a" if x is None else f"{x:.{nd}f}"


def tables(result):
    tools = result["tools"]
    cats = result["categories"]
    names = [c for c in CATEGORY_ORDER if c in cats] + [c for c in cats if c not in CATEGORY_ORDER]
    rows = names + ["overall"]
    get = lambda c, t: (result["overall"] if c == "overall" else cats[c]).get(t)
    out = []

    def table(title, metric, nd=3, delta=True, only=None):
        ts = [t for t in tools if only is None or t in only]
        head = ["category", "n"] + ts + (["Δ Reelsmith − librosa"] if delta and "librosa" in ts
                                         and "reelsmith" in ts else [])
        out.append(f"**{title}**\n")
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
        for c in rows:
            n = get(c, ts[0])["n"] if get(c, ts[0]) else 0
            vals = [get(c, t)[metric] if get(c, t) else None for t in ts]
            cells = [("**overall**" if c == "overall" else c), str(n)] + [fmt(v, nd) for v in vals]
            if len(head) > len(cells):
                r, l = get(c, "reelsmith")[metric], get(c, "librosa")[metric]
                cells.append("n/a" if r is None or l is None else f"{r - l:+.{nd}f}")
            out.append("| " + " | ".join(cells) + " |")
        out.append("")

    table("Beat F-measure (70 ms, first 5 s not scored)", "f")
    table("CMLt", "cmlt")
    table("AMLt", "amlt")
    if "reelsmith" in tools:
        out.append("**Downbeats and meter (Reelsmith; librosa and aubio give none)**: downbeat F-measure (70 ms), where "
                   "the estimated downbeats land (share on the true beat 1, on another beat of the bar, between beats), "
                   "and excerpts whose meter is right\n")
        out.append("| category | n | downbeat F | on beat 1 | on beat 2 / 3 / 4 (of the bar) | between beats | meter right |")
        out.append("|---|---:|---:|---:|---|---:|---:|")
        for c in rows:
            a = get(c, "reelsmith")
            h = a["downbeatPositions"] or {}
            tot = sum(h.values()) or 1
            others = " / ".join(f"{100 * h.get(str(k), 0) / tot:.0f}%" for k in (2, 3, 4))
            out.append(f"| {'**overall**' if c == 'overall' else c} | {a['n']} | {fmt(a['dbf'])} | "
                       f"{100 * h.get('1', 0) / tot:.0f}% | {others} | {100 * h.get('between', 0) / tot:.0f}% | "
                       f"{a['meterCorrect']}/{a['n']} |")
        out.append("")

    out.append("**Tempo: correct / octave errors (x2, x½, x3, x⅓) / other, of n**\n")
    out.append("| category | n | " + " | ".join(tools) + " |")
    out.append("|---|---:|" + "|".join([":---"] * len(tools)) + "|")
    for c in rows:
        cells = []
        for t in tools:
            a = get(c, t)
            if not a:
                cells.append("n/a")
                continue
            other = {k: v for k, v in a["tempoClasses"].items() if k != "correct" and k not in OCTAVE}
            octs = {k: v for k, v in a["tempoClasses"].items() if k in OCTAVE}
            s = f"{a['tempoCorrect']} / {a['octaveErrors']}"
            if octs:
                s += " (" + ", ".join(f"{k} {v}" for k, v in sorted(octs.items())) + ")"
            s += f" / {sum(other.values())}"
            if other:
                s += " (" + ", ".join(f"{k} {v}" for k, v in sorted(other.items())) + ")"
            cells.append(s)
        out.append(f"| {'**overall**' if c == 'overall' else c} | {get(c, tools[0])['n']} | " + " | ".join(cells) + " |")
    out.append("")

    out.append("**Timing: median signed offset of matched beats (estimate − truth, ms) · share of beats on the off-beat**\n")
    out.append("| category | " + " | ".join(tools) + " |")
    out.append("|---|" + "|".join(["---:"] * len(tools)) + "|")
    for c in rows:
        cells = []
        for t in tools:
            a = get(c, t)
            cells.append("n/a" if not a else f"{fmt(a['offsetMs'], 1)} · {fmt(a['offbeatFrac'], 2)}")
        out.append(f"| {'**overall**' if c == 'overall' else c} | " + " | ".join(cells) + " |")
    out.append("")

    out.append("**Speed and memory over the whole set**\n")
    out.append("| tool | how it was run | wall s per minute of audio | CPU s per minute | peak RSS (MB) | failures |")
    out.append("|---|---|---:|---:|---:|---:|")
    how = {"reelsmith": "`reelsmith beats FILE --json`, one process per file (decode included)",
           "librosa": "`librosa.load` + `beat_track` in one warm worker (imports not timed)",
           "aubio": "`aubiotrack -i FILE`, one process per file"}
    for t in tools:
        a = result["overall"][t]
        out.append(f"| {t} | {how[t]} | {fmt(a['secondsPerMinute'], 3)} | {fmt(a['cpuSecondsPerMinute'], 3)} | {fmt(a['peakRssMB'], 0)} | {a['errors']} |")
    out.append("")

    g = result.get("goals")
    if g:
        out.append("**Against the issue's accuracy goals**\n")
        for line in g["lines"]:
            out.append(f"- {line}")
        out.append("")

    out.append("<details><summary>Per excerpt (F / CMLt / AMLt / downbeat F / tempo class / offset ms)</summary>\n")
    out.append("| excerpt | category | truth BPM | " + " | ".join(tools) + " |")
    out.append("|---|---|---:|" + "|".join(["---"] * len(tools)) + "|")
    for r in result["files"]:
        cells = []
        for t in tools:
            s = r["tools"].get(t)
            if not s:
                cells.append("n/a")
                continue
            txt = f"{s['f']:.2f} / {s['cmlt']:.2f} / {s['amlt']:.2f}"
            if s["dbf"] is not None:
                txt += f" / {s['dbf']:.2f}"
            tempo = f"{s['tempo']:.1f}" if s["tempo"] else "–"
            txt += f" / {s['tempoClass']} {tempo} / {fmt(s['offsetMs'], 0)}"
            cells.append(txt)
        lo, hi = r["tempoRange"]
        bpm = f"{lo:g}" if abs(hi - lo) < 0.01 else f"{r['tempo']:g} ({lo:g}–{hi:g})"
        out.append(f"| {r['file']} | {r['category']} | {bpm} | " + " | ".join(cells) + " |")
    out.append("\n</details>\n")
    return "\n".join(out)


def goals(result):
    o = result["overall"]
    if "reelsmith" not in o or "librosa" not in o:
        return None
    lines = []
    d = o["reelsmith"]["f"] - o["librosa"]["f"]
    ok1 = d >= 0.05
    lines.append(f"mean beat F {o['reelsmith']['f']:.3f} vs librosa {o['librosa']['f']:.3f}: Δ {d:+.3f} "
                 f"(goal ≥ +0.050) — {'met' if ok1 else 'NOT met'}")
    worst = min(((c, a["reelsmith"]["f"] - a["librosa"]["f"]) for c, a in result["categories"].items()),
                key=lambda x: x[1])
    ok2 = worst[1] >= -0.02
    lines.append(f"worst category vs librosa: {worst[0]} Δ {worst[1]:+.3f} (goal ≥ −0.020) — "
                 f"{'met' if ok2 else 'NOT met'}")
    losing = [f"{c} ({a['reelsmith']['f'] - a['librosa']['f']:+.3f})" for c, a in result["categories"].items()
              if a["reelsmith"]["f"] - a["librosa"]["f"] < -0.02]
    if losing:
        lines.append("categories more than 0.02 below librosa: " + ", ".join(losing))
    dbf = o["reelsmith"]["dbf"]
    lines.append(f"downbeat F {fmt(dbf)} (aim ≥ 0.75) — {'met' if dbf is not None and dbf >= 0.75 else 'not met'}")
    return {"meanFDelta": d, "worstCategory": worst[0], "worstDelta": worst[1], "met": ok1 and ok2, "lines": lines}


# ---------------------------------------------------------------------------------------------------------------


def default_reelsmith():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    for p in [os.path.join(root, ".build", "release", "reelsmith"), os.path.join(root, ".build", "debug", "reelsmith")]:
        if os.path.exists(p):
            return p
    return shutil.which("reelsmith") or "reelsmith"


def file_sha256(path):
    import hashlib
    try:
        with open(shutil.which(path) or path, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except OSError:
        return None


def tool_version(cmd):
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
        return (p.stdout or p.stderr).strip().splitlines()[0]
    except Exception:
        return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("setdir")
    ap.add_argument("--reelsmith", default=None, help="the reelsmith binary (default: .build/release, then debug)")
    ap.add_argument("--out", default=None, help="write the full results as JSON here")
    ap.add_argument("--markdown", default=None, help="write the tables as Markdown here")
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--python", default=sys.executable, help="the Python that runs librosa")
    args = ap.parse_args(argv)

    truth = json.load(open(os.path.join(args.setdir, "truth.json")))
    files = [os.path.abspath(os.path.join(args.setdir, t["file"])) for t in truth]
    want = args.tools.split(",")
    reelsmith = args.reelsmith or default_reelsmith()

    est, versions = {}, {"python": platform.python_version()}
    load_start = os.getloadavg()[0]
    if "reelsmith" in want:
        print(f"reelsmith: {reelsmith}", file=sys.stderr)
        est["reelsmith"] = run_reelsmith(reelsmith, files)
    if "librosa" in want:
        print("librosa ...", file=sys.stderr)
        r, v = run_librosa(files, args.python)
        if r:
            est["librosa"] = r
            versions.update(v)
    if "aubio" in want:
        print("aubio ...", file=sys.stderr)
        r = run_aubio(files)
        if r:
            est["aubio"] = r
            versions["aubio"] = tool_version(["dpkg-query", "-W", "-f", "${Version}", "aubio-tools"])
        else:
            print("aubiotrack not found (apt-get install aubio-tools): aubio skipped", file=sys.stderr)
    import mir_eval
    import numpy
    versions.update(mir_eval=mir_eval.__version__, numpy=numpy.__version__)
    tools = [t for t in TOOLS if t in est]

    rows = []
    for t, f in zip(truth, files):
        row = {"file": t["file"], "category": t["category"], "meter": t["meter"], "tempo": t["tempo"],
               "tempoRange": t.get("tempoRange", [t["tempo"], t["tempo"]]), "duration": t.get("duration") or
               (t["beats"][-1] if t["beats"] else 0), "tools": {}}
        for tool in tools:
            row["tools"][tool] = score(t, est[tool][f])
        rows.append(row)

    cats = {}
    for r in rows:
        cats.setdefault(r["category"], []).append(r)
    result = {
        "set": os.path.abspath(args.setdir), "excerpts": len(rows),
        "audioMinutes": sum(r["duration"] for r in rows) / 60, "tools": tools, "versions": versions,
        "reelsmith": reelsmith, "reelsmithSha256": file_sha256(reelsmith),
        "sourcesDigest": os.environ.get("BEATS_SOURCES_DIGEST"),
        "loadavg": [round(load_start, 2), round(os.getloadavg()[0], 2)], "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "categories": {c: {t: aggregate(rs, t) for t in tools} for c, rs in cats.items()},
        "overall": {t: aggregate(rows, t) for t in tools},
        "files": rows,
    }
    result["goals"] = goals(result)
    md = tables(result)
    print(md)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=1)
    if args.markdown:
        with open(args.markdown, "w") as f:
            f.write(md)


if __name__ == "__main__":
    main()
