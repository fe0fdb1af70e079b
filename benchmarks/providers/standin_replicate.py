#!/usr/bin/env python3
"""A stand-in for Replicate's HTTP API with a fixed latency per video, for measuring Reelsmith's orchestration.

Standard library only (http.server). It speaks the part of https://replicate.com/docs/reference/http that
Reelsmith uses:

  GET  /v1/models/{owner}/{name}                      model + latest_version.openapi_schema (Input schema)
  GET  /v1/models/{owner}/{name}/versions/{id}        the same version object
  POST /v1/models/{owner}/{name}/predictions          create (honours `Prefer: wait=N`), also POST /v1/predictions
  GET  /v1/predictions/{id}                           one prediction
  POST /v1/predictions/{id}/cancel                    cancel
  GET  /v1/predictions?created_after=ISO8601          list (one page)
  POST /v1/files                                      upload (stored; `urls.get` served back)
  GET  /delivery/{id}/output.{png,mp4}                outputs (no auth, like Replicate's capability URLs)
  GET  /stats, POST /stats/reset                      per-prediction start/end times and request counts

With --faults P (the soak benchmark), each create, prediction GET and output download fails with probability P, the
way a flaky network and an overloaded API fail: a create whose prediction IS made but whose answer is a 502 with an
HTML body (the client must find it again, not pay twice), a prediction GET answered 503 or with a truncated JSON body,
an output download answered 500. The draws come from --fault-seed, so a run is repeatable for the same requests.

Every /v1 request needs `Authorization: Bearer <anything non-empty>` (or exactly --token when given). Image (and
every non-video) model predictions succeed at once; video models succeed exactly --latency seconds after creation.
Outputs are one PNG (320x180) and one MP4 (320x180, 16 fps, 81 frames = 5.0625 s, libx264), made once with ffmpeg.

Input schemas: the shipped registry's Replicate models, written like their model pages (and like
Sources/ReelTestSupport/ReplicateCatalogue.swift); any other model named in --registry (the JSON printed by
`reelsmith models --json`) gets a schema of its mapped and fixed input names.

Nothing is logged but "METHOD path status" lines with --verbose; headers and bodies never are.

Usage: standin_replicate.py [--port 0] [--latency 2.0] [--registry models.json] [--port-file FILE] [--media-dir DIR]
                            [--faults P] [--fault-seed N]
"""
import argparse
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

ASPECTS = ["1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21"]
URI = {"type": "string", "format": "uri"}

# (properties, required, output kind, output is an array)
CATALOGUE = {
    "black-forest-labs/flux-schnell": (
        {"prompt": {"type": "string"}, "aspect_ratio": {"type": "string", "enum": ASPECTS, "default": "1:1"},
         "num_outputs": {"type": "integer", "minimum": 1, "maximum": 4, "default": 1},
         "output_format": {"type": "string", "enum": ["webp", "jpg", "png"], "default": "webp"},
         "seed": {"type": "integer"}, "go_fast": {"type": "boolean", "default": True},
         "megapixels": {"type": "string", "enum": ["1", "0.25"]}},
        ["prompt"], "image", True),
    "google/imagen-4-fast": (
        {"prompt": {"type": "string"}, "aspect_ratio": {"type": "string", "enum": ["1:1", "9:16", "16:9", "3:4", "4:3"]},
         "output_format": {"type": "string", "enum": ["jpg", "png"]}, "safety_filter_level": {"type": "string"}},
        ["prompt"], "image", False),
    "black-forest-labs/flux-1.1-pro": (
        {"prompt": {"type": "string"}, "aspect_ratio": {"type": "string", "enum": ASPECTS}, "seed": {"type": "integer"},
         "output_format": {"type": "string", "enum": ["webp", "jpg", "png"]}, "safety_tolerance": {"type": "integer"}},
        ["prompt"], "image", False),
    "wan-video/wan-2.2-i2v-fast": (
        {"image": URI, "prompt": {"type": "string"}, "last_image": URI,
         "num_frames": {"type": "integer", "minimum": 81, "maximum": 121, "default": 81},
         "frames_per_second": {"type": "integer", "minimum": 5, "maximum": 30, "default": 16},
         "resolution": {"type": "string", "enum": ["480p", "720p"], "default": "480p"}, "go_fast": {"type": "boolean"},
         "seed": {"type": "integer"}, "interpolate_output": {"type": "boolean"}},
        ["image", "prompt"], "video", False),
    "bytedance/seedance-1-lite": (
        {"prompt": {"type": "string"}, "image": URI, "last_frame_image": URI,
         "duration": {"type": "integer", "minimum": 2, "maximum": 12, "default": 5},
         "resolution": {"type": "string", "enum": ["480p", "720p", "1080p"]},
         "aspect_ratio": {"type": "string", "enum": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"]},
         "fps": {"type": "integer", "enum": [24]}, "camera_fixed": {"type": "boolean"}, "seed": {"type": "integer"}},
        ["prompt"], "video", False),
    "bytedance/seedance-1-pro": (
        {"prompt": {"type": "string"}, "image": URI, "last_frame_image": URI,
         "duration": {"type": "integer", "minimum": 2, "maximum": 12, "default": 5},
         "resolution": {"type": "string", "enum": ["480p", "720p", "1080p"]},
         "aspect_ratio": {"type": "string", "enum": ["16:9", "4:3", "1:1", "3:4", "9:16", "21:9", "9:21"]},
         "fps": {"type": "integer", "enum": [24]}, "camera_fixed": {"type": "boolean"}, "seed": {"type": "integer"}},
        ["prompt"], "video", False),
    "kwaivgi/kling-v2.5-turbo-pro": (
        {"prompt": {"type": "string"}, "start_image": URI,
         "aspect_ratio": {"type": "string", "enum": ["16:9", "9:16", "1:1"]},
         "duration": {"type": "integer", "enum": [5, 10], "default": 5}, "negative_prompt": {"type": "string"}},
        ["prompt"], "video", False),
}

FILE_INPUTS = {"image", "start_image", "last_image", "last_frame_image", "image_input", "first_frame_image"}


def now_iso(t=None):
    t = time.time() if t is None else t
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text):
    s = text.strip().replace("Z", "+00:00")
    m = re.match(r"^(.*?\d\d:\d\d:\d\d)(\.\d+)?(.*)$", s)
    if not m:
        return None
    frac = float("0" + m.group(2)) if m.group(2) else 0.0
    try:
        base = datetime.fromisoformat(m.group(1) + (m.group(3) or "+00:00"))
    except ValueError:
        return None
    return base.timestamp() + frac


def make_media(directory):
    """One PNG and one MP4, made once with ffmpeg."""
    os.makedirs(directory, exist_ok=True)
    png = os.path.join(directory, "output.png")
    mp4 = os.path.join(directory, "output.mp4")
    quiet = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y"]
    if not (os.path.exists(png) and os.path.getsize(png)):
        subprocess.run(quiet + ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=1", "-frames:v", "1", png], check=True)
    if not (os.path.exists(mp4) and os.path.getsize(mp4)):
        subprocess.run(quiet + ["-f", "lavfi", "-i", "testsrc2=size=320x180:rate=16", "-frames:v", "81",
                                "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-r", "16",
                                "-movflags", "+faststart", mp4], check=True)
    with open(png, "rb") as f:
        png_bytes = f.read()
    with open(mp4, "rb") as f:
        mp4_bytes = f.read()
    return png_bytes, mp4_bytes


class State:
    def __init__(self, latency, catalogue, media, faults=0.0, fault_seed=1):
        self.latency = latency
        self.faults = faults
        self.rng = random.Random(fault_seed)
        self.injected = {}
        self.catalogue = catalogue
        self.png, self.mp4 = media
        self.lock = threading.Lock()
        self.predictions = {}   # id -> dict (internal: t_created, t_done, kind, ...)
        self.files = {}         # id -> (content type, bytes)
        self.requests = {}
        self.epoch = time.time()

    def count(self, key):
        with self.lock:
            self.requests[key] = self.requests.get(key, 0) + 1

    def fault(self, kind):
        """True (and counted) when this request should fail the way `kind` names."""
        if self.faults <= 0:
            return False
        with self.lock:
            hit = self.rng.random() < self.faults
            if hit:
                self.injected[kind] = self.injected.get(kind, 0) + 1
        return hit

    def reset(self):
        with self.lock:
            self.predictions.clear()
            self.requests.clear()
            self.injected.clear()
            self.epoch = time.time()


def model_entry(name, registry_roles):
    if name in CATALOGUE:
        return CATALOGUE[name]
    for chain in registry_roles.values():
        for m in chain:
            if m.get("provider") == "replicate" and m.get("model", "").split(":")[0] == name:
                props = {}
                for api_name in list(m.get("inputs", {}).values()) + list(m.get("fixed", {}).keys()):
                    props[api_name] = dict(URI) if api_name in FILE_INPUTS else {}
                prompt_like = [n for n in ("prompt", "text") if n in props]
                kind = m.get("output", "image")
                return props, prompt_like[:1], kind, kind == "text"
    return None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "standin-replicate/1"
    state: State = None
    token = None
    verbose = False

    # --- plumbing -------------------------------------------------------------------------------------------------
    def log_message(self, fmt, *args):  # never log headers or bodies
        pass

    def log_request(self, code="-", size="-"):
        if self.verbose:
            sys.stderr.write(f"standin: {self.command} {urlsplit(self.path).path} {code}\n")

    def reply(self, status, obj=None, body=None, ctype="application/json", headers=None):
        data = body if body is not None else (json.dumps(obj).encode() if obj is not None else b"")
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def problem(self, status, detail):
        self.reply(status, {"title": "error", "detail": detail, "status": status}, ctype="application/problem+json")

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def authorised(self):
        auth = self.headers.get("Authorization", "")
        ok = auth.startswith("Bearer ") and len(auth) > 7 and (self.token is None or auth[7:] == self.token)
        if not ok:
            self.body()
            self.problem(401, "You did not pass a valid authentication token")
        return ok

    def base(self):
        host = self.headers.get("Host") or f"127.0.0.1:{self.server.server_address[1]}"
        return f"http://{host}"

    # --- predictions ----------------------------------------------------------------------------------------------
    def view(self, p, with_logs=True):
        t = time.time()
        status = p["status"]
        if status in ("starting", "processing") and t >= p["t_done"]:
            status = "succeeded"
        elif status == "starting" and t >= p["t_created"]:
            status = "processing"
        out = {"id": p["id"], "model": p["model"], "version": p["version"], "input": p["input"], "status": status,
               "source": "api", "created_at": now_iso(p["t_created"]), "data_removed": False, "error": None,
               "urls": {"get": f"{self.base()}/v1/predictions/{p['id']}",
                        "cancel": f"{self.base()}/v1/predictions/{p['id']}/cancel"},
               "output": None, "logs": "" if with_logs else None, "metrics": {}}
        if status != "starting":
            out["started_at"] = now_iso(p["t_created"])
        if status == "succeeded":
            out["completed_at"] = now_iso(p["t_done"])
            out["metrics"] = {"predict_time": round(p["t_done"] - p["t_created"], 3)}
            kind = p["kind"]
            if kind == "text":
                out["output"] = ["[]"]
            else:
                ext = "mp4" if kind == "video" else ("wav" if kind == "audio" else "png")
                url = f"{self.base()}/delivery/{p['id']}/output.{ext}"
                out["output"] = [url] if p["array"] else url
        elif status == "canceled":
            out["completed_at"] = now_iso(p["t_canceled"])
        return out

    def create(self, name, version):
        st = self.state
        raw = self.body()
        try:
            payload = json.loads(raw or b"{}")
        except ValueError:
            return self.problem(400, "the body is not JSON")
        entry = model_entry(name, st.catalogue) if name else None
        if entry is None:
            return self.problem(404, f"model {name} not found")
        props, required, kind, array = entry
        inp = payload.get("input") or {}
        missing = [r for r in required if r not in inp]
        if missing:
            return self.problem(422, f"input: {', '.join(missing)} is required")
        t = time.time()
        latency = st.latency if kind == "video" else 0.0
        pid = uuid.uuid4().hex[:26]
        p = {"id": pid, "model": name, "version": version or ("v-" + name.replace("/", "-")), "input": inp,
             "status": "starting", "t_created": t, "t_done": t + latency, "kind": kind, "array": array}
        with st.lock:
            st.predictions[pid] = p
        wait = self.prefer_wait()
        if wait and latency > 0:
            time.sleep(max(0.0, min(p["t_done"], t + wait) - time.time()))
        if st.fault("create-answer-lost"):
            # The prediction exists and will be billed; only the answer is lost.
            return self.reply(502, body=b"<html><body>502 Bad Gateway</body></html>", ctype="text/html")
        self.reply(201, self.view(p), headers={"Location": f"{self.base()}/v1/predictions/{pid}"})

    def prefer_wait(self):
        m = re.search(r"\bwait(?:=(\d+))?", self.headers.get("Prefer", ""))
        if not m:
            return 0
        return min(60, int(m.group(1))) if m.group(1) else 60

    # --- routing --------------------------------------------------------------------------------------------------
    def do_HEAD(self):
        self.do_GET()

    def do_GET(self):
        st = self.state
        url = urlsplit(self.path)
        path = url.path
        if path == "/stats":
            st.count("GET /stats")
            return self.stats()
        m = re.fullmatch(r"/delivery/([^/]+)/output\.(png|mp4|wav)", path)
        if m:
            st.count("GET /delivery")
            with st.lock:
                known = m.group(1) in st.predictions
            if not known:
                return self.problem(404, "gone")
            if st.fault("download-500"):
                return self.problem(500, "internal error")
            ext = m.group(2)
            data, ctype = (st.mp4, "video/mp4") if ext == "mp4" else (st.png, "image/png")
            return self.reply(200, body=data, ctype=ctype)
        if not path.startswith("/v1/"):
            return self.problem(404, "not found")
        if not self.authorised():
            return
        m = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)(?:/versions/([^/]+))?", path)
        if m:
            st.count("GET /v1/models")
            name = f"{m.group(1)}/{m.group(2)}"
            entry = model_entry(name, st.catalogue)
            if entry is None:
                return self.problem(404, f"model {name} not found")
            version = self.version_object(name, entry)
            if m.group(3):
                return self.reply(200, version)
            return self.reply(200, {"url": f"https://replicate.com/{name}", "owner": m.group(1), "name": m.group(2),
                                    "description": f"stand-in for {name}", "visibility": "public",
                                    "latest_version": version})
        m = re.fullmatch(r"/v1/predictions/([^/]+)", path)
        if m:
            st.count("GET /v1/predictions/{id}")
            with st.lock:
                p = st.predictions.get(m.group(1))
            if p and st.fault("get-503"):
                return self.problem(503, "service unavailable")
            if p and st.fault("get-truncated"):
                return self.reply(200, body=json.dumps(self.view(p)).encode()[:40])
            return self.reply(200, self.view(p)) if p else self.problem(404, "prediction not found")
        if path == "/v1/predictions":
            st.count("GET /v1/predictions (list)")
            after = parse_qs(url.query).get("created_after", [None])[0]
            since = parse_iso(after) if after else None
            with st.lock:
                items = sorted(st.predictions.values(), key=lambda p: -p["t_created"])
            results = [self.view(p, with_logs=False) for p in items if since is None or p["t_created"] >= since]
            return self.reply(200, {"results": results, "next": None, "previous": None})
        m = re.fullmatch(r"/v1/files/([^/]+)", path)
        if m:
            st.count("GET /v1/files/{id}")
            f = st.files.get(m.group(1))
            return self.reply(200, body=f[1], ctype=f[0]) if f else self.problem(404, "file not found")
        self.problem(404, "not found")

    def do_POST(self):
        st = self.state
        path = urlsplit(self.path).path
        if path == "/stats/reset":
            self.body()
            st.reset()
            return self.reply(200, {"ok": True})
        if not self.authorised():
            return
        m = re.fullmatch(r"/v1/models/([^/]+)/([^/]+)/predictions", path)
        if m:
            st.count("POST create")
            return self.create(f"{m.group(1)}/{m.group(2)}", None)
        if path == "/v1/predictions":
            st.count("POST create")
            # Version-only create: find the model whose stand-in version id this is.
            raw = self.body()
            version = (json.loads(raw or b"{}").get("version") or "").split(":")[-1]
            name = version[2:].replace("-", "/", 1) if version.startswith("v-") else None
            self.body = lambda: raw  # hand the body to create()
            return self.create(name, version)
        m = re.fullmatch(r"/v1/predictions/([^/]+)/cancel", path)
        if m:
            st.count("POST cancel")
            self.body()
            with st.lock:
                p = st.predictions.get(m.group(1))
                if p and p["status"] in ("starting", "processing") and time.time() < p["t_done"]:
                    p["status"] = "canceled"
                    p["t_canceled"] = time.time()
            return self.reply(200, self.view(p)) if p else self.problem(404, "prediction not found")
        if path == "/v1/files":
            st.count("POST /v1/files")
            raw = self.body()
            fid = uuid.uuid4().hex[:16]
            m = re.search(rb"\r\n\r\n(.*)\r\n--[^\r\n]*--\r\n$", raw, re.S)
            data = m.group(1) if m else raw
            st.files[fid] = ("application/octet-stream", data)
            return self.reply(201, {"id": fid, "size": len(data), "created_at": now_iso(),
                                    "urls": {"get": f"{self.base()}/v1/files/{fid}"}})
        self.body()
        self.problem(404, "not found")

    def version_object(self, name, entry):
        props, required, kind, array = entry
        output = ({"type": "array", "items": {"type": "string"}} if kind == "text"
                  else {"type": "array", "items": URI} if array else dict(URI))
        return {"id": "v-" + name.replace("/", "-"), "created_at": "2025-01-01T00:00:00.000000Z",
                "openapi_schema": {"openapi": "3.1.0", "components": {"schemas": {
                    "Input": {"type": "object", "title": "Input", "properties": props, "required": required},
                    "Output": output}}}}

    def stats(self):
        st = self.state
        with st.lock:
            preds = sorted(st.predictions.values(), key=lambda p: p["t_created"])
            rows = [{"id": p["id"], "model": p["model"], "kind": p["kind"],
                     "start": round(p["t_created"] - st.epoch, 4), "end": round(p["t_done"] - st.epoch, 4),
                     "canceled": p["status"] == "canceled",
                     # Same model and same input twice = the same paid work made twice.
                     "input_key": hashlib.sha256(json.dumps([p["model"], p["input"]], sort_keys=True).encode()).hexdigest()[:16]}
                    for p in preds]
            body = {"epoch": st.epoch, "latency": st.latency, "faults": dict(st.injected), "requests": dict(st.requests),
                    "requests_total": sum(st.requests.values()), "predictions": rows}
        self.reply(200, body)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0, help="0 picks a free port")
    ap.add_argument("--latency", type=float, default=2.0, help="seconds each video prediction takes (default 2.0)")
    ap.add_argument("--registry", help="`reelsmith models --json` output, for schemas of models not in the catalogue")
    ap.add_argument("--token", help="accept only this bearer token (default: any non-empty one)")
    ap.add_argument("--port-file", help="write the base URL here once listening")
    ap.add_argument("--media-dir", help="where the PNG and MP4 are made (default: a temporary folder)")
    ap.add_argument("--verbose", action="store_true", help="one line per request (method, path, status)")
    ap.add_argument("--faults", type=float, default=0.0, help="probability that a create, GET or download fails (default 0)")
    ap.add_argument("--fault-seed", type=int, default=1, help="seed of the fault draws (default 1)")
    args = ap.parse_args()

    roles = {}
    if args.registry:
        with open(args.registry) as f:
            roles = json.load(f).get("roles", {})
    media = make_media(args.media_dir or tempfile.mkdtemp(prefix="standin-replicate-"))
    Handler.state = State(args.latency, roles, media, args.faults, args.fault_seed)
    Handler.token = args.token
    Handler.verbose = args.verbose
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    server.daemon_threads = True
    base = f"http://{args.host}:{server.server_address[1]}"
    if args.port_file:
        tmp = args.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write(base + "\n")
        os.replace(tmp, args.port_file)
    print(f"standin: listening on {base} (video latency {args.latency:g} s)", file=sys.stderr, flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


if __name__ == "__main__":
    main()
