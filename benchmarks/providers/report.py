#!/usr/bin/env python3
"""Writes the providers section of benchmarks/RESULTS.md from bench_providers.py's results JSON.

Only the text between `<!-- providers:begin -->` and `<!-- providers:end -->` is replaced (the section is appended
when the markers are missing); every other section is left as it is.

  report.py RESULTS.json [--results benchmarks/RESULTS.md] [--print]
"""
import argparse
import json
import math
import shlex
import statistics
import sys
from datetime import datetime
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: the shared results writer
from results_md import cpu_name, git_state, replace_section  # noqa: E402

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
BEGIN, END = "<!-- providers:begin -->", "<!-- providers:end -->"
TITLE = "## Providers: orchestration overhead and cost per video"
TARGET_OVERHEAD = 0.05
TARGET_60S_DRAFT = 1.00
DESIGN_BUDGET = 2.00


def rel(cmd):
    """A command with paths shown relative to the repository."""
    out = []
    for c in cmd:
        p = Path(c)
        if p.is_absolute():
            try:
                c = str(p.relative_to(ROOT))
            except ValueError:
                pass
        out.append(c)
    return shlex.join(out)


def pct(x):
    return f"{x * 100:+.0f}%" if abs(x) >= 0.095 else f"{x * 100:+.1f}%"


def median(xs):
    return statistics.median(xs) if xs else float("nan")


def overhead_section(res, L):
    o = res["overhead"]
    lat = res["latency"]
    fresh = [r for r in o["runs"] if not r["cached"]]
    cached = next((r for r in o["runs"] if r["cached"]), None)
    peak = max(r["stats"]["peak"] for r in fresh)
    scenes = fresh[0]["scenes"]
    rounds = math.ceil(scenes / peak) if peak else 0
    ideal_rounds = math.ceil(scenes / 4)
    ideal = ideal_rounds * lat
    L += ["### Orchestration overhead", ""]
    L.append(f"A stand-in of Replicate's HTTP API (`benchmarks/providers/standin_replicate.py`, Python `ThreadingHTTPServer`) "
             f"answers the keyframe model (flux-schnell) at once and the video model (Wan 2.2 i2v fast) exactly {lat:g} s after "
             f"each create; its outputs are one 320×180 PNG and one 320×180, 16 fps, 5.0625 s H.264 clip. Reelsmith runs "
             f"unchanged against it (`REPLICATE_BASE_URL`). The plan is {scenes} scenes of 3 s (36 s, all hard cuts, no "
             f"scene continues the previous one's last frame), so each scene is one keyframe call, one clip call and the "
             f"ffmpeg fit (scale/crop to 854×480, 30 fps, trim) plus the last-frame grab. Ideal generate stage = "
             f"{ideal_rounds} rounds × {lat:g} s = **{ideal:g} s**; ideal run = analyze + {ideal:g} s + compose. "
             f"Each fresh run has a new `REELSMITH_DATA` (no cache hits, song analysed again).")
    L.append("")
    L += ["| run | wall s | analyze s | generate s | compose s | generate vs ideal | wall vs (analyze + ideal + compose) | "
          "clip rounds (s after first call) | videos at once | requests | others |",
          "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|"]

    def row(name, r):
        ideal_wall = r["analyze"] + ideal + r["compose"]
        spans = ", ".join(f"{a:.1f}–{b:.1f}" for a, b, _ in r["stats"]["rounds"]) or "—"
        vs = "— | —" if r["cached"] else f"{pct((r['generate'] - ideal) / ideal)} | {pct((r['wall'] - ideal_wall) / ideal_wall)}"
        return (f"| {name} | {r['wall']:.1f} | {r['analyze']:.2f} | {r['generate']:.2f} | {r['compose']:.2f} | "
                f"{vs} | {spans} | "
                f"{r['stats']['peak']} | {r['stats']['requests_total']} | {r['other']:.0f}% |")

    for r in fresh:
        L.append(row(f"fresh {r['run']}", r))
    med = {k: median([r[k] for r in fresh]) for k in ("wall", "analyze", "generate", "compose", "other")}
    med_ideal_wall = med["analyze"] + ideal + med["compose"]
    L.append(f"| **median** | **{med['wall']:.1f}** | {med['analyze']:.2f} | **{med['generate']:.2f}** | {med['compose']:.2f} | "
             f"**{pct((med['generate'] - ideal) / ideal)}** | **{pct((med['wall'] - med_ideal_wall) / med_ideal_wall)}** | | | | "
             f"{med['other']:.0f}% |")
    if cached:
        L.append(row("all cached (2nd run, same data)", cached))
    L.append("")

    turn = [g for r in fresh for g in r["stats"]["turnaround"]]
    k2c = [g for r in fresh for g in r["stats"]["keyframe_to_clip"]]
    med_gen = med["generate"]
    over = med_gen - ideal
    L.append("What the numbers say:")
    L.append(f"- **Overhead target (< 5% over {ideal:g} s): {'met' if over / ideal < TARGET_OVERHEAD else 'not met'}** — "
             f"median generate {med_gen:.2f} s is {pct(over / ideal)} ({over:.1f} s) over the ideal; the whole run is "
             f"{pct((med['wall'] - med_ideal_wall) / med_ideal_wall)} over analyze + {ideal:g} s + compose "
             f"(the rest of the wall time is analysis, {med['analyze']:.1f} s, and compose, {med['compose']:.1f} s, "
             f"which do not depend on the provider).")
    L.append(f"- **Width really used: {peak} clip predictions at once** (the peak the stand-in saw), in {rounds} rounds. "
             f"With models configured `ClassicPipeline.configured` runs up to 16 scene tasks (they mostly wait on the "
             f"provider), `ReplicateClient` allows 4 requests at once, and the local ffmpeg work (fitting clips, last "
             f"frames) is bounded separately to max(2, min(4, {res['cores']} cores)) = {max(2, min(4, res['cores']))} jobs.")
    if turn:
        L.append(f"- Where the time goes: a scene holds its slot while its clip is downloaded, probed, fitted by ffmpeg and "
                 f"its last frame extracted, so the next round's keyframe call starts a median **{median(turn):.2f} s** "
                 f"(range {min(turn):.2f}–{max(turn):.2f}) after a clip prediction ends: four ffmpeg fits share "
                 f"{res['cores']} cores. The keyframe answer to the clip create costs a median {median(k2c):.2f} s "
                 f"(keyframe download, `data:` URI, request). Per round ≈ {lat:g} s provider + "
                 f"{median(k2c):.1f} s + {median(turn):.1f} s local work; the provider time is only "
                 f"{ideal / med_gen * 100:.0f}% of the generate stage at this latency. The local seconds per round do not grow "
                 f"with the provider's latency, so against real clip times of tens of seconds they are a much smaller "
                 f"share; at {lat:g} s they dominate.")
    reads = [r["stats"]["requests"].get("GET /v1/models", 0) for r in o["runs"]]
    if reads:
        L.append(f"- Input schemas: {min(reads)}–{max(reads)} `GET /v1/models` per run: one per model, read once per run "
                 f"(concurrent scenes share a read in flight); before calling, the cache is searched for a result of every "
                 f"model in the role's chain, so the fallbacks' schemas are read too. The reads are free and take "
                 f"milliseconds here.")
    if cached:
        req = cached["stats"]["requests"]
        L.append(f"- **Cached run** (same data directory): generate {cached['generate']:.2f} s, "
                 f"{cached['cache_hits']} of {cached['ledger_calls']} ledger calls cache hits, cost "
                 f"${cached['cost'] or 0:.2f}, **{req.get('POST create', 0)} predictions created**; the only requests were "
                 f"{', '.join(f'{n} × {k}' for k, n in sorted(req.items()) if k != 'GET /stats') or 'none'} "
                 f"(input schemas are read before the cache is consulted). Its generate time is the local work alone "
                 f"(fits and last frames), which is about the overhead measured above.")
    L.append("")


def cost_section(res, L):
    rows = res["cost"]
    reg = res.get("shipped_registry", {}).get("roles", {})

    def price(role):
        m = (reg.get(role) or [{}])[0]
        p = m.get("price", {})
        by = p.get("byResolution")
        tail = (" (" + ", ".join(f"{k} ${v:g}" for k, v in by.items()) + ")") if by else ""
        return f"`{m.get('model', '?')}` ${p.get('usd', 0):g}/{p.get('unit', '?')}{tail}"

    L += ["### Cost per video", ""]
    L.append("From `reelsmith plan --estimate --json --no-cache` with the shipped registry's prices (nothing generated; the "
             "stand-in only serves the input schemas). Draft and preview: keyframe " + price("image.fast") +
             ", clip " + price("video.draft") + "; final: keyframe " + price("image.quality") + ", clip " +
             price("video.final") + ". A scene that continues the previous scene's last frame needs no keyframe. "
             "Planning is **rule-based and free** here: `ANTHROPIC_*`/`OPENAI_*` unset and `REELSMITH_REGISTRY` maps "
             "`llm.planner` to the offline rule planner (an LLM planner adds its token cost).")
    L.append("")
    L += ["| video | preset | scenes | paid calls (keyframes + clips) | total $ | $ / min |", "|---:|---|---:|---:|---:|---:|"]
    for r in rows:
        kf = sum(b["calls"] for b in r["by_role"] if b["role"].startswith("image"))
        clips = sum(b["calls"] for b in r["by_role"] if b["role"].startswith("video"))
        total = r["total"]
        bold = r["seconds"] == 60 and r["preset"] == "draft"
        t = f"**{total:.2f}**" if bold else f"{total:.2f}"
        L.append(f"| {r['seconds']} s | {r['preset']} | {r['scenes']} | {r['paid_calls']} ({kf} + {clips}) | {t} | "
                 f"{total / (r['seconds'] / 60):.2f} |")
    L.append("")
    d60 = next(r for r in rows if r["seconds"] == 60 and r["preset"] == "draft")
    clips60 = sum(b["usd"] for b in d60["by_role"] if b["role"].startswith("video"))
    n60 = sum(b["calls"] for b in d60["by_role"] if b["role"].startswith("video"))
    over = d60["total"] - TARGET_60S_DRAFT
    per_scene = d60["total"] / d60["scenes"]
    max_scenes = int(TARGET_60S_DRAFT // per_scene)
    L.append(f"- **60 s at draft ≤ ${TARGET_60S_DRAFT:.2f}: {'met' if over <= 0 else 'not met'}** — ${d60['total']:.2f} "
             f"({'$%.2f over' % over if over > 0 else '$%.2f under' % -over}); the original design budget of under "
             f"${DESIGN_BUDGET:.0f} is {'met' if d60['total'] < DESIGN_BUDGET else 'not met'}. {n60} clips × ${clips60 / n60:.3f} = "
             f"${clips60:.2f} of it: the cost is the scene count (one 5.06 s clip per scene, and the rule planner cuts a "
             f"scene every {60 / d60['scenes']:.1f} s on average). At ${per_scene:.4f} a scene, $1.00 buys "
             f"{max_scenes} scenes a minute, i.e. scenes of ≥ {60 / max_scenes:.1f} s on average (or several scenes cut "
             f"from one clip).")
    per_min = {}
    for r in rows:
        per_min.setdefault(r["preset"], []).append(r["total"] / (r["seconds"] / 60))
    pv = next(r for r in rows if r["seconds"] == 60 and r["preset"] == "preview")
    fi = next(r for r in rows if r["seconds"] == 60 and r["preset"] == "final")
    L.append(f"- Preview costs {pv['total'] / d60['total']:.1f}× draft (Wan at 720p); final "
             f"{fi['total'] / d60['total']:.1f}× (Kling's shortest clip is 5 s, billed per second, for every "
             f"scene shorter than that). Cost grows linearly with length: per preset, $/min across 30, 60 and 180 s spans "
             + "; ".join(f"{p} {min(v):.2f}–{max(v):.2f}" for p, v in per_min.items()) + ".")
    L.append("")


def render(res):
    L = [BEGIN, TITLE, ""]
    started = datetime.fromisoformat(res["started"])
    finished = datetime.fromisoformat(res.get("finished", res["started"]))
    kind = res.get("binary_kind", "release")
    build = "release build" if kind == "release" else f"**{kind} build** (no release build was available in time)"
    L.append(f"Measured {started:%Y-%m-%d %H:%M}–{finished:%H:%M} UTC on {res['cores']} cores ({cpu_name()}), Reelsmith at "
             f"{git_state()}, {build}, with `benchmarks/providers/run.sh` (`make bench`). 1-minute load average "
             f"{res['load_start'][0]:.1f} at the start and {res.get('load_end', [float('nan')])[0]:.1f} at the end; "
             f"\"others\" is the share of all CPUs that other processes used during a run (the machine is shared).")
    L.append("")
    if "overhead" in res:
        overhead_section(res, L)
    if "cost" in res:
        cost_section(res, L)
    L.append("Commands (paths from the repository root; `$W` = `benchmarks/work/providers`; `REPLICATE_BASE_URL` = the stand-in, "
             "`REPLICATE_API_TOKEN` = a dummy, `REELSMITH_REGISTRY=$W/registry-rules.json`):")
    L.append("```")
    L.append("python3 benchmarks/providers/standin_replicate.py --latency %g --registry $W/models.json --port-file $W/standin.url"
             % res["latency"])
    if "overhead" in res:
        o = res["overhead"]
        first = next(r for r in o["runs"] if not r["cached"])
        L.append("reelsmith plan '%s' --audio %s --duration 36 --preset draft --seed 7 --json   # re-cut to 12 × 3 s → %s"
                 % ("neon city at night, rain, synthwave", rel([o["song"]]), rel([o["plan"]])))
        L.append(rel(first["cmd"]).replace(str(res["binary"]), "reelsmith").replace(rel([res["binary"]]), "reelsmith")
                 + "   # REELSMITH_DATA fresh per run; once more on the last run's data for the cached row")
    if "cost" in res:
        c = res["cost"][0]
        L.append(rel(c["cmd"]).replace(rel([res["binary"]]), "reelsmith")
                 + "   # and 60, 180 s; preview, final")
    L += ["```", END]
    return "\n".join(L) + "\n"


def write(path, section):
    replace_section(path, BEGIN, END, section, "# Benchmarks\n")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results_json", type=Path)
    ap.add_argument("--results", type=Path, default=HERE.parent / "RESULTS.md")
    ap.add_argument("--print", action="store_true", help="print the section instead of writing it")
    args = ap.parse_args()
    section = render(json.loads(args.results_json.read_text()))
    if args.print:
        sys.stdout.write(section)
    else:
        write(args.results, section)
        print(f"report: wrote the providers section of {args.results}", file=sys.stderr)


if __name__ == "__main__":
    main()
