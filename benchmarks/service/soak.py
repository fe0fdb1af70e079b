#!/usr/bin/env python3
"""Soak run of the service (issue 14): many jobs, workers killed at random points, provider faults, API under load.

Set-up: a throwaway PostgreSQL cluster, `reelsmith serve --workers 0` (the API alone) and W `reelsmith worker`
processes sharing one data directory, against benchmarks/providers/standin_replicate.py with --faults P (creates whose
answer is lost after the prediction was made, 503s and truncated bodies on GETs, 500s on downloads). J projects, each
with its own uploaded song and seed, are generated at once. While they run:

- a chaos loop sends SIGKILL to a random worker every K seconds (± half) and starts a new one in its place;
- N client threads read `GET /api/jobs/{id}` and `GET /api/projects` as fast as they can; every latency is kept.

Reported: jobs lost (not succeeded by the end; goal 0), paid work repeated (predictions created on the stand-in for
a model and input that an earlier prediction already had; goal 0), faults injected, kills, and the API's p50/p99 under
that load. Standard library only; writes a results JSON that report.py turns into the "Soak" part of the service
section.
"""
import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_service import (Postgres, Server, Standin, call, clean_environment, click_track, generate_all, log, new_user,
                           upload, RULES_REGISTRY)  # noqa: E402

TERMINAL = ("succeeded", "failed", "canceled")


class Workers:
    """W `reelsmith worker` processes; kill one at random and start another in its place."""

    def __init__(self, binary, env, work, count):
        self.binary, self.env, self.work = binary, env, work
        self.procs = []
        self.started = 0
        self.logs = []
        for _ in range(count):
            self.procs.append(self.spawn())

    def spawn(self):
        self.started += 1
        path = self.work / f"worker-{self.started}.log"
        handle = open(path, "wb")
        self.logs.append(handle)
        return subprocess.Popen([self.binary, "worker"], env=self.env, cwd=self.work, stdout=subprocess.DEVNULL,
                                stderr=handle, stdin=subprocess.DEVNULL)

    def kill_one(self, rng):
        i = rng.randrange(len(self.procs))
        victim = self.procs[i]
        if victim.poll() is None:
            victim.send_signal(signal.SIGKILL)
        victim.wait()
        self.procs[i] = self.spawn()

    def stop(self):
        for p in self.procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in self.procs:
            try:
                p.wait(timeout=60)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        for h in self.logs:
            h.close()


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, int(round(p / 100 * (len(ordered) - 1)))))
    return ordered[k]


def reader(base, key, job_ids, stop, out, seed):
    """Reads job status and the project list until told to stop; keeps (latency ms, status) per request."""
    rng = random.Random(seed)
    while not stop.is_set():
        path = f"/api/jobs/{rng.choice(job_ids)}" if rng.random() < 0.8 else "/api/projects?limit=20"
        t0 = time.perf_counter()
        try:
            status, _ = call(base, "GET", path, key)
        except OSError:
            status = 0
        out.append(((time.perf_counter() - t0) * 1000, status))


def soak(args):
    work = args.work
    data = work / "soak-data"
    shutil.rmtree(data, ignore_errors=True)
    registry = work / "registry-rules.json"
    registry.write_text(json.dumps(RULES_REGISTRY) + "\n")
    shipped = work / "models.json"
    shipped.write_bytes(subprocess.run([args.bin, "models", "--json"], capture_output=True, check=True).stdout)
    env = clean_environment(registry)
    env["REELSMITH_DATA"] = str(data)
    rng = random.Random(args.seed)
    standin = Standin(work, args.latency, shipped, faults=args.faults, fault_seed=args.seed)
    pg = Postgres(work) if args.database == "postgresql" else None
    server = workers = None
    result = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "binary_kind": args.binary_kind,
              "cores": os.cpu_count(), "load_start": os.getloadavg(), "database": args.database, "jobs": args.jobs,
              "workers": args.workers, "kill_every_s": args.kill_every, "faults": args.faults, "latency": args.latency,
              "video_seconds": args.video_seconds, "readers": args.readers}
    try:
        env.update(REPLICATE_API_TOKEN="standin-not-a-secret", REPLICATE_BASE_URL=standin.url)
        if pg:
            env["DATABASE_URL"] = pg.url
        key = new_user(args.bin, env, work)
        server = Server(args.bin, env, work, "soak-serve", workers=0)
        song = work / "soak-song.wav"
        click_track(song, args.video_seconds + 3)
        projects = []
        for i in range(args.jobs):
            status, project = call(server.base, "POST", "/api/projects", key,
                                   {"prompt": f"neon city at night, soak {i}", "duration": args.video_seconds,
                                    "preset": "draft", "seed": 1000 + i})
            assert status == 201, (status, project)
            upload(server.base, key, project["id"], song)
            projects.append(project["id"])
        standin.reset()
        workers = Workers(args.bin, env, work, args.workers)
        started = time.time()
        jobs = generate_all(server.base, key, projects)
        stop = threading.Event()
        samples = []
        threads = [threading.Thread(target=reader, args=(server.base, key, jobs, stop, samples, args.seed + n), daemon=True)
                   for n in range(args.readers)]
        for t in threads:
            t.start()
        kills = 0
        next_kill = time.time() + args.kill_every * rng.uniform(0.5, 1.5)
        statuses = {}
        while time.time() - started < args.timeout:
            if time.time() >= next_kill:
                workers.kill_one(rng)
                kills += 1
                next_kill = time.time() + args.kill_every * rng.uniform(0.5, 1.5)
            for jid in jobs:
                if statuses.get(jid) in TERMINAL:
                    continue
                status, job = call(server.base, "GET", f"/api/jobs/{jid}", key)
                if status == 200:
                    statuses[jid] = job["status"]
                    if job["status"] in ("failed", "canceled"):
                        statuses[jid + ":error"] = (job.get("error") or {}).get("code")
            if all(statuses.get(j) in TERMINAL for j in jobs):
                break
            time.sleep(0.5)
        wall = time.time() - started
        stop.set()
        for t in threads:
            t.join(timeout=70)
        stats = standin.stats()
        predictions = stats["predictions"]
        keys = [p["input_key"] for p in predictions]
        repeated = len(keys) - len(set(keys))
        lat = [ms for ms, _ in samples]
        bad = sum(1 for _, s in samples if s == 0 or s >= 500)
        succeeded = sum(1 for j in jobs if statuses.get(j) == "succeeded")
        result.update({
            "wall_s": round(wall, 1), "kills": kills, "workers_started": workers.started,
            "succeeded": succeeded, "failed": sum(1 for j in jobs if statuses.get(j) == "failed"),
            "unfinished": sum(1 for j in jobs if statuses.get(j) not in TERMINAL),
            "failure_codes": sorted({str(statuses.get(j + ":error")) for j in jobs if statuses.get(j) == "failed"}),
            "jobs_lost": args.jobs - succeeded,
            "predictions_created": len(predictions), "distinct_paid_inputs": len(set(keys)), "paid_work_repeated": repeated,
            "creates_sent": stats["requests"].get("POST create", 0), "faults_injected": stats.get("faults", {}),
            "api_requests": len(samples), "api_5xx_or_dropped": bad,
            "api_p50_ms": round(percentile(lat, 50), 2) if lat else None,
            "api_p99_ms": round(percentile(lat, 99), 2) if lat else None,
            "api_max_ms": round(max(lat), 2) if lat else None,
        })
        log(f"soak: {succeeded}/{args.jobs} succeeded in {wall:.0f} s with {kills} kills; paid work repeated "
            f"{repeated}; API p99 {result['api_p99_ms']} ms over {len(samples)} requests")
    finally:
        if workers:
            workers.stop()
        if server:
            server.stop()
        if pg:
            pg.stop()
        standin.stop()
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["load_end"] = os.getloadavg()
    return result


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--binary-kind", default="release")
    ap.add_argument("--jobs", type=int, default=16)
    ap.add_argument("--workers", type=int, default=3)
    ap.add_argument("--kill-every", type=float, default=10.0, help="mean seconds between worker kills")
    ap.add_argument("--faults", type=float, default=0.1, help="probability of an injected provider fault per request")
    ap.add_argument("--latency", type=float, default=4.0, help="stand-in seconds per video prediction")
    ap.add_argument("--video-seconds", type=float, default=6.0)
    ap.add_argument("--readers", type=int, default=4, help="client threads reading the API during the run")
    ap.add_argument("--database", choices=["postgresql", "sqlite"], default="postgresql")
    ap.add_argument("--seed", type=int, default=14)
    ap.add_argument("--timeout", type=float, default=900)
    args = ap.parse_args()
    args.bin = str(Path(args.bin).resolve())
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    result = soak(args)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log(f"soak results in {args.out}")


if __name__ == "__main__":
    main()
