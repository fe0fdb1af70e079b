#!/usr/bin/env python3
"""Service benchmark (issue 5): the job-status read path under load, and job throughput against worker count.

1. `GET /api/jobs/{id}` with wrk on loopback (`reelsmith serve --workers 0`), on SQLite and on PostgreSQL (a throwaway
   cluster made with initdb): requests per second and latency percentiles.
2. Jobs per minute with 1, 2 and 4 workers (`reelsmith serve --workers N`, SQLite): J draft jobs of a few seconds,
   each a project with an uploaded song, generated against benchmarks/providers/standin_replicate.py whose video
   model takes exactly --latency seconds, so the provider is the bottleneck.

Standard library only. Writes a results JSON; report.py turns it into the "Service" section of RESULTS.md.
"""
import argparse
import glob
import json
import math
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
import wave
from datetime import datetime, timezone
from pathlib import Path

HERE = Path(__file__).resolve().parent
PROVIDERS = HERE.parent / "providers"
sys.path.insert(0, str(PROVIDERS))
from bench_providers import Standin  # noqa: E402  (the stand-in Replicate both benchmarks drive)
RULES_REGISTRY = {"version": 1, "roles": {"llm.planner": [
    {"provider": "offline", "model": "rules", "output": "text", "inputs": {}, "price": {"unit": "token", "usd": 0}}]}}


def log(message):
    print(f"bench-service: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- HTTP -----------------------------------------------------------------------------------------------------------

def call(base, method, path, key, body=None, headers=None, raw=None, content_type=None):
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    h = {"Authorization": f"Bearer {key}"}
    if data is not None:
        h["Content-Type"] = content_type or "application/json"
    h.update(headers or {})
    req = urllib.request.Request(base + path, data=data, method=method, headers=h)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            text = r.read()
            return r.status, (json.loads(text) if text else None)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace")


def upload(base, key, project_id, path):
    boundary = "----reelsmith" + uuid.uuid4().hex
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"song.wav\"\r\n"
            "Content-Type: audio/wav\r\n\r\n").encode()
    body = head + Path(path).read_bytes() + f"\r\n--{boundary}--\r\n".encode()
    status, answer = call(base, "POST", f"/api/projects/{project_id}/assets", key, raw=body,
                          content_type=f"multipart/form-data; boundary={boundary}")
    if status != 201:
        raise SystemExit(f"bench-service: upload failed: {status} {answer}")


def click_track(path, seconds, bpm=120, rate=22050):
    """A steady click track over a low hum (the beat tracker finds its tempo)."""
    frames = bytearray()
    period = 60.0 / bpm
    for i in range(int(seconds * rate)):
        t = i / rate
        since = t % period
        v = 0.6 * math.sin(2 * math.pi * 880 * t) * math.exp(-since * 40) + 0.08 * math.sin(2 * math.pi * 110 * t)
        frames += struct.pack("<h", int(max(-1, min(1, v)) * 32000))
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))


# --- processes ------------------------------------------------------------------------------------------------------

class Server:
    """`reelsmith serve --port 0` with its standard error in a log; knows its port."""

    def __init__(self, binary, env, work, name, workers):
        self.log_path = work / f"{name}.log"
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([binary, "serve", "--port", "0", "--workers", str(workers)], env=env, cwd=work,
                                     stdout=subprocess.DEVNULL, stderr=self.log, stdin=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline:
            m = re.search(r"listening on (http://[\d.]+:\d+)", self.log_path.read_text(errors="replace"))
            if m:
                self.base = m.group(1)
                return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        raise SystemExit(f"bench-service: the server did not start (see {self.log_path})")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()


class Postgres:
    """A throwaway PostgreSQL cluster (initdb, trust auth, fsync off) on a free loopback port."""

    def __init__(self, work):
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
        if not bins:
            raise RuntimeError("PostgreSQL is not installed (apt-get install -y postgresql)")
        self.bin = os.path.dirname(bins[-1])
        self.dir = Path(tempfile.mkdtemp(prefix="reelsmith-bench-pg-"))
        self.as_root = os.getuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres", "postgres")
        self.port = free_port()
        self.pg("initdb", "-D", f"{self.dir}/data", "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-locale")
        self.pg("pg_ctl", "-D", f"{self.dir}/data", "-l", f"{self.dir}/server.log", "-w", "-o",
                f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", "start")
        self.url = f"postgres://postgres@127.0.0.1:{self.port}/postgres?sslmode=disable"

    def pg(self, tool, *args):
        cmd = [f"{self.bin}/{tool}", *args]
        if self.as_root:
            cmd = ["runuser", "-u", "postgres", "--", *cmd]
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop(self):
        try:
            self.pg("pg_ctl", "-D", f"{self.dir}/data", "-m", "fast", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def clean_environment(registry):
    """This process's environment without any provider, storage or Reelsmith setting of the caller's (so no real key
    or configuration file reaches a benchmark), with the model registry at `registry` (the rule-based planner)."""
    env = {k: v for k, v in os.environ.items()
           if not (k.startswith(("ANTHROPIC_", "OPENAI_", "REPLICATE_", "COG_", "S3_", "REELSMITH_")) or k == "DATABASE_URL")}
    env["REELSMITH_REGISTRY"] = str(registry)
    return env


def generate_all(base, key, projects):
    """Queues a generate job for every project at once; returns the job ids."""
    jobs = []
    for pid in projects:
        status, job = call(base, "POST", f"/api/projects/{pid}/generate", key, {})
        assert status == 202, (status, job)
        jobs.append(job["id"])
    return jobs


def new_user(binary, env, work):
    out = subprocess.run([binary, "users", "add", "bench-" + uuid.uuid4().hex[:6]], env=env, cwd=work, capture_output=True, check=True)
    key = out.stdout.decode().strip().splitlines()[-1]
    name = re.search(r"created user (\S+)", out.stderr.decode()).group(1)
    subprocess.run([binary, "users", "limits", name, "--rpm", "100000000", "--max-jobs", "10000"], env=env, cwd=work,
                   capture_output=True, check=True)
    return key


# --- 1. wrk on GET /api/jobs/{id} -------------------------------------------------------------------------------------

def parse_wrk(text):
    def seconds(value, unit):
        return float(value) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
    pct = {p: seconds(v, u) * 1000 for p, v, u in re.findall(r"^\s+(50|75|90|99)%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)}
    requests = int(re.search(r"(\d+) requests in", text).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", text)
    errors = re.search(r"Socket errors:.*", text)
    return {"rps": rps, "p50_ms": pct.get("50"), "p90_ms": pct.get("90"), "p99_ms": pct.get("99"), "requests": requests,
            "non2xx": int(non2xx.group(1)) if non2xx else 0, "socket_errors": errors.group(0) if errors else None}


def read_path(args, env, work, database):
    data = work / f"read-{database}"
    shutil.rmtree(data, ignore_errors=True)
    pg = None
    env = dict(env, REELSMITH_DATA=str(data))
    if database == "postgresql":
        pg = Postgres(work)
        env["DATABASE_URL"] = pg.url
    server = None
    try:
        key = new_user(args.bin, env, work)
        server = Server(args.bin, env, work, f"serve-read-{database}", workers=0)
        status, project = call(server.base, "POST", "/api/projects", key, {"prompt": "benchmark", "duration": 2, "preset": "draft"})
        assert status == 201, (status, project)
        status, job = call(server.base, "POST", f"/api/projects/{project['id']}/generate", key, {})
        assert status == 202, (status, job)
        url = f"{server.base}/api/jobs/{job['id']}"
        # Warm up, then measure.
        subprocess.run(["wrk", "-t2", "-c16", "-d3s", "-H", f"Authorization: Bearer {key}", url], capture_output=True, check=True)
        runs = []
        for connections in args.connections:
            out = subprocess.run(["wrk", "-t2", f"-c{connections}", f"-d{args.duration}s", "--latency", "-H",
                                  f"Authorization: Bearer {key}", url], capture_output=True, check=True, text=True)
            result = parse_wrk(out.stdout)
            result["connections"] = connections
            log(f"{database}: {connections} connections: {result['rps']:.0f} req/s, p99 {result['p99_ms']:.2f} ms")
            runs.append(result)
        return runs
    finally:
        if server:
            server.stop()
        if pg:
            pg.stop()


# --- 2. jobs per minute -----------------------------------------------------------------------------------------------

def throughput(args, env, work, workers, song):
    data = work / f"jobs-{workers}"
    shutil.rmtree(data, ignore_errors=True)
    env = dict(env, REELSMITH_DATA=str(data))
    key = new_user(args.bin, env, work)
    server = Server(args.bin, env, work, f"serve-jobs-{workers}", workers=workers)
    try:
        projects = []
        for i in range(args.jobs):
            status, project = call(server.base, "POST", "/api/projects", key,
                                   {"prompt": f"neon city at night, shot {i}", "duration": args.video_seconds, "preset": "draft",
                                    "seed": i + 1})
            assert status == 201, (status, project)
            upload(server.base, key, project["id"], song)
            projects.append(project["id"])
        started = time.time()
        jobs = generate_all(server.base, key, projects)
        pending = set(jobs)
        finished_at = {}
        statuses = {}
        while pending and time.time() - started < args.timeout:
            for jid in list(pending):
                status, job = call(server.base, "GET", f"/api/jobs/{jid}", key)
                if status == 200 and job["status"] in ("succeeded", "failed", "canceled"):
                    pending.discard(jid)
                    finished_at[jid] = time.time()
                    statuses[jid] = job["status"]
            time.sleep(0.1)
        wall = (max(finished_at.values()) if finished_at else time.time()) - started
        ok = sum(1 for s in statuses.values() if s == "succeeded")
        result = {"workers": workers, "jobs": args.jobs, "succeeded": ok, "wall_s": round(wall, 2),
                  "jobs_per_minute": round(ok / wall * 60, 2) if wall > 0 else None, "unfinished": len(pending)}
        log(f"{workers} worker(s): {ok}/{args.jobs} jobs in {wall:.1f} s = {result['jobs_per_minute']} jobs/min")
        return result
    finally:
        server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--out", required=True, type=Path)
    ap.add_argument("--binary-kind", default="release")
    ap.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
    ap.add_argument("--connections", type=lambda s: [int(x) for x in s.split(",")], default=[16, 64])
    ap.add_argument("--latency", type=float, default=8.0, help="stand-in seconds per video prediction")
    ap.add_argument("--jobs", type=int, default=8, help="jobs per throughput run")
    ap.add_argument("--video-seconds", type=float, default=3.0)
    ap.add_argument("--workers", type=lambda s: [int(x) for x in s.split(",")], default=[1, 2, 4])
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--databases", type=lambda s: [x for x in s.split(",") if x], default=["sqlite", "postgresql"],
                    help="which databases the read benchmark runs on (sqlite,postgresql)")
    ap.add_argument("--skip-read", action="store_true")
    ap.add_argument("--skip-jobs", action="store_true")
    args = ap.parse_args()
    args.bin = str(Path(args.bin).resolve())
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    if not shutil.which("wrk") and not args.skip_read:
        raise SystemExit("bench-service: wrk is required (apt-get install -y wrk)")

    registry = work / "registry-rules.json"
    registry.write_text(json.dumps(RULES_REGISTRY) + "\n")
    shipped = work / "models.json"
    shipped.write_bytes(subprocess.run([args.bin, "models", "--json"], capture_output=True, check=True).stdout)
    env = clean_environment(registry)
    result = {"started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "binary": args.bin,
              "binary_kind": args.binary_kind, "cores": os.cpu_count(), "load_start": os.getloadavg(),
              "wrk_seconds": args.duration, "latency": args.latency, "video_seconds": args.video_seconds}
    if not args.skip_read:
        result["read"] = {}
        for database in args.databases:
            log(f"wrk on GET /api/jobs/{{id}} ({database})")
            try:
                result["read"][database] = read_path(args, env, work, database)
            except (RuntimeError, subprocess.CalledProcessError) as e:
                log(f"{database}: skipped: {e}")
                result["read"][database] = {"error": str(e)}
    if not args.skip_jobs:
        standin = Standin(work, args.latency, shipped)
        song = work / "song.wav"
        click_track(song, args.video_seconds + 3)
        jenv = dict(env, REPLICATE_API_TOKEN="standin-not-a-secret", REPLICATE_BASE_URL=standin.url)
        try:
            result["throughput"] = [throughput(args, jenv, work, n, song) for n in args.workers]
        finally:
            standin.stop()
    result["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    result["load_end"] = os.getloadavg()
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    log(f"results in {args.out}")


if __name__ == "__main__":
    main()
