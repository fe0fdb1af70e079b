#!/usr/bin/env python3
"""Writes the service section of benchmarks/RESULTS.md from bench_service.py's results JSON.

Only the text between `<!-- service:begin -->` and `<!-- service:end -->` is replaced (the section is appended when
the markers are missing); every other section is left as it is.

  report.py [RESULTS.json] [--soak SOAK.json] [--results benchmarks/RESULTS.md] [--print]

The soak run has its own markers (`<!-- soak:begin -->` … `<!-- soak:end -->`), so it can be rerun alone:
`report.py --soak SOAK.json`.
"""
import argparse
import json
import sys
from pathlib import Path
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # benchmarks/: the shared results writer
from results_md import cpu_name, git_state, replace_section  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent.parent
BEGIN, END = "<!-- service:begin -->", "<!-- service:end -->"
SOAK_BEGIN, SOAK_END = "<!-- soak:begin -->", "<!-- soak:end -->"
TITLE = "## Service: job status under load, jobs per minute"
TARGET_RPS, TARGET_P99_MS = 2000, 20.0


def read_table(read):
    L = ["| database | connections | requests/s | p50 ms | p90 ms | p99 ms | non-2xx | target (≥ 2,000/s, p99 < 20 ms) |",
         "|---|---:|---:|---:|---:|---:|---:|---|"]
    for db, runs in read.items():
        if isinstance(runs, dict):
            L.append(f"| {db} | — | not measured: {runs.get('error', '?')} | | | | | |")
            continue
        for r in runs:
            met = r["rps"] >= TARGET_RPS and (r["p99_ms"] or 1e9) < TARGET_P99_MS
            L.append(f"| {db} | {r['connections']} | {r['rps']:,.0f} | {r['p50_ms']:.2f} | {r['p90_ms']:.2f} | "
                     f"{r['p99_ms']:.2f} | {r['non2xx']} | {'met' if met else 'not met'} |")
    L.append("")
    return L


def section(res, baseline=None):
    L = [BEGIN, TITLE, ""]
    L.append(f"Measured {res['started']} on {res['cores']} cores ({cpu_name()}), {res['binary_kind']} binary, commit "
             f"{git_state()}; load average at start {res['load_start'][0]:.2f}. Everything on loopback: the client (wrk), "
             f"the server and the database share the same {res['cores']} cores. Reproduce with `benchmarks/service/run.sh`.")
    L.append("")
    if "read" in res:
        L += ["### `GET /api/jobs/{id}` (wrk)", ""]
        L.append(f"`reelsmith serve --workers 0` (API only), one user (rate limit raised for the test), one queued job; "
                 f"`wrk -t2 -cC -d{res['wrk_seconds']}s --latency` with the `Authorization: Bearer` header after a 3 s "
                 f"warm-up. Each request authenticates the key (the SHA-256 of the key looked up in the database, then "
                 f"remembered in memory for 5 s) and reads the job (one indexed `SELECT` decoded straight into the record).")
        L.append("")
        L += read_table(res["read"])
        if baseline:
            L.append(f"Before this work ({baseline['started']}, same machine and benchmark; two indexed queries per "
                     f"request, the key lookup and the job read through Fluent):")
            L.append("")
            L += read_table(baseline["read"])
    if "throughput" in res:
        L += ["### Jobs per minute against worker count", ""]
        first = res["throughput"][0]
        L.append(f"`reelsmith serve --workers N` on SQLite; {first['jobs']} draft jobs of {res['video_seconds']:g} s video, "
                 f"each a project with its own uploaded song, queued through the API at once; providers: "
                 f"`benchmarks/providers/standin_replicate.py` whose video model answers exactly {res['latency']:g} s after "
                 f"each create (keyframes at once), so a job waits on the provider for most of its time. Jobs/minute = "
                 f"succeeded jobs ÷ (last job finished − first queued).")
        L.append("")
        L += ["| workers | jobs succeeded | wall s | jobs/minute | speed-up vs 1 worker | ideal |", "|---:|---:|---:|---:|---:|---:|"]
        base = first["jobs_per_minute"] or 0
        for r in res["throughput"]:
            speed = (r["jobs_per_minute"] or 0) / base if base else 0
            L.append(f"| {r['workers']} | {r['succeeded']}/{r['jobs']} | {r['wall_s']:.1f} | {r['jobs_per_minute']} | "
                     f"{speed:.2f}× | {r['workers']}× |")
        L.append("")
        per_job = first["wall_s"] / max(1, first["succeeded"])
        local = max(0.0, per_job - res["latency"])
        L.append(f"With one worker a job takes {per_job:.1f} s: {res['latency']:g} s waiting on the video model and about "
                 f"{local:.1f} s of local work (song analysis, fetching and fitting clips, compose, thumbnail, uploads). "
                 f"That local work runs on the same {res['cores']} cores for every worker at once, so the speed-up stays close "
                 f"to linear while the provider dominates and falls away once N × {local:.1f} s of local work per round "
                 f"fills the cores (with {first['jobs']} jobs and 4 workers there are only 2 rounds). Load average at the end: "
                 f"{res['load_end'][0]:.2f} (other work on the machine shows here).")
        L.append("")
    L.append(END)
    return "\n".join(L) + "\n"


def soak_section(soak):
    L = [SOAK_BEGIN, "## Service soak: workers killed, provider faults, the API under load", ""]
    faults = ", ".join(f"{k} {v}" for k, v in sorted(soak["faults_injected"].items())) or "none"
    L.append(f"`benchmarks/service/soak.py` ({soak['started']}, {soak['binary_kind']} binary, {soak['database']}): "
             f"`reelsmith serve --workers 0` and {soak['workers']} `reelsmith worker` processes; {soak['jobs']} draft jobs "
             f"of {soak['video_seconds']:g} s, each with its own song and seed, queued at once against the stand-in "
             f"Replicate (video {soak['latency']:g} s) with fault probability {soak['faults']:g} per request; a random "
             f"worker killed with SIGKILL about every {soak['kill_every_s']:g} s and replaced; {soak['readers']} client "
             f"threads reading `GET /api/jobs/{{id}}` and `GET /api/projects` throughout.")
    L.append("")
    L += ["| measure | result | goal |", "|---|---:|---|"]
    L.append(f"| jobs succeeded | {soak['succeeded']}/{soak['jobs']} (failed {soak['failed']}, unfinished {soak['unfinished']}) | all |")
    L.append(f"| jobs lost | {soak['jobs_lost']} | 0 |")
    L.append(f"| paid work repeated (a create for a model and input already created) | {soak['paid_work_repeated']} "
             f"of {soak['predictions_created']} predictions | 0 |")
    L.append(f"| workers killed / started | {soak['kills']} / {soak['workers_started']} | |")
    L.append(f"| provider faults injected | {faults} | |")
    L.append(f"| API requests during the run | {soak['api_requests']:,} ({soak['api_5xx_or_dropped']} 5xx or dropped) | 0 5xx |")
    L.append(f"| API p50 / p99 / max | {soak['api_p50_ms']} / {soak['api_p99_ms']} / {soak['api_max_ms']} ms | |")
    L.append(f"| wall time | {soak['wall_s']:g} s | |")
    if soak.get("failure_codes"):
        L.append("")
        L.append(f"Failure codes: {', '.join(soak['failure_codes'])}.")
    L.append("")
    L.append(f"Machine: {soak['cores']} cores ({cpu_name()}), commit {git_state()}; load average {soak['load_start'][0]:.2f} at "
             f"the start, {soak['load_end'][0]:.2f} at the end. Reproduce with `benchmarks/service/run.sh --skip-read --skip-jobs`.")
    L.append(SOAK_END)
    return "\n".join(L) + "\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("results", type=Path, nargs="?")
    ap.add_argument("--results", dest="md", type=Path, default=ROOT / "benchmarks" / "RESULTS.md")
    ap.add_argument("--baseline", type=Path, help="earlier read results to show under the new ones (benchmarks/service/baseline.json)")
    ap.add_argument("--soak", type=Path, help="soak.py's results JSON")
    ap.add_argument("--print", action="store_true")
    args = ap.parse_args()
    baseline = json.loads(args.baseline.read_text()) if args.baseline and args.baseline.exists() else None
    soak = json.loads(args.soak.read_text()) if args.soak and args.soak.exists() else None
    texts = []
    if args.results and args.results.exists():
        texts.append((BEGIN, END, section(json.loads(args.results.read_text()), baseline)))
    if soak:
        texts.append((SOAK_BEGIN, SOAK_END, soak_section(soak)))
    for begin, end, text in texts:
        if args.print:
            print(text)
        else:
            replace_section(args.md, begin, end, text)
    if args.print:
        return
    print(f"service report: wrote {args.md}", file=sys.stderr)


if __name__ == "__main__":
    main()
