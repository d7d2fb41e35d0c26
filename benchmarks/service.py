"""synthwatch serve against synthwatch scan, on the same generated files, in one run.

    python benchmarks/service.py                      # 200 images + 50 audio clips + 5 videos, 50 clients
    python benchmarks/service.py --images 20 --audio 5 --videos 1 --clients 10   # a quick look
    python benchmarks/service.py --upload multipart   # the multipart form instead of the raw body
    python benchmarks/service.py --no-cli --pace 20   # uploads arriving at 20/s instead of all at once

1. Generates the media with synthwatch.testing.samples (distinct seeds: nothing is de-duplicated).
2. ``synthwatch scan DIR --jsonl`` on them: wall time -> items/s, peak RSS.
3. ``synthwatch serve --workers W`` on a fresh SQLite database, then C client threads submit every
   file over HTTP (``POST /v1/scans``: the raw body, ``application/octet-stream`` with the name in
   ``Content-Disposition`` (the recommended upload), or ``--upload multipart``; with a
   ``callback_url`` on 127.0.0.1). By default all clients start at once (a burst: each client sends
   its next file when the previous POST is answered); ``--pace R`` sends the files at R a second
   instead, spread over the clients, which is how uploads reach a platform's moderation service.
   items/s from the first POST to the last finished scan (its webhook), p50/p95 latency of POST and
   GET as the clients saw them (each client GETs a scan once its signed webhook arrives, and polls
   every 30 s as a fallback), peak RSS (VmHWM) of the API process, of each worker and of the workers'
   sandboxed decoder processes.

The benchmark's key may make 60,000 requests a minute, 1,000 at once (``SYNTHWATCH_SERVICE__RATE_LIMIT_*``):
the default (1,200 a minute, 200 at once) would answer part of a 255-file burst with 429.

Models come from $SYNTHWATCH_HOME/models (``synthwatch models setup``); everything else lives in a
temporary folder that is removed at the end. Prints one table of figures.
"""

from __future__ import annotations

import argparse
import http.server
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx2 as httpx

from synthwatch.config import get_settings
from synthwatch.testing import samples

#: fallback poll interval of a client whose webhook has not arrived
POLL_S = 30.0


def generate(folder: Path, n_images: int, n_audio: int, n_videos: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    files = [samples.make_image(folder / f"img{i:03d}.jpg", seed=1000 + i) for i in range(n_images)]
    files += [samples.make_speech(folder / f"voice{i:03d}.wav", seconds=4.0, seed=2000 + i) for i in range(n_audio)]
    files += [samples.make_video(folder / f"clip{i:02d}.mp4", seconds=4.0, seed=3000 + i) for i in range(n_videos)]
    return files


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(q * (len(s) - 1))))]


def vm_hwm_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def children(pid: int) -> list[int]:
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                out.append(int(entry.name))
    return out


def run_cli(files_dir: Path, env: dict[str, str]) -> tuple[float, int, float]:
    t0 = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "synthwatch.cli", "scan", str(files_dir), "--jsonl"], env=env,
                          capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1, 4, 5):
        raise SystemExit(f"synthwatch scan failed ({proc.returncode}): {proc.stderr[-2000:]}")
    n = sum(1 for line in proc.stdout.splitlines() if line.strip())
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return wall, n, peak


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _server_post_latency(metrics: str) -> tuple[float, float]:
    """From the API's own histogram: share of POST /v1/scans handled within 50 ms, and the upper
    bound (ms) of the bucket holding the 95th percentile (time inside the API, without client-side
    queueing)."""
    buckets: list[tuple[float, float]] = []
    for line in metrics.splitlines():
        if line.startswith("synthwatch_http_request_duration_seconds_bucket{") and 'method="POST"' in line \
                and 'route="/v1/scans"' in line and 'status="202"' in line:
            le = line.split('le="', 1)[1].split('"', 1)[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), float(line.rsplit(" ", 1)[1])))
    buckets.sort()
    if not buckets or buckets[-1][1] == 0:
        return float("nan"), float("nan")
    total = buckets[-1][1]
    within = next((n for le, n in buckets if le == 0.05), float("nan")) / total
    p95 = next(le for le, n in buckets if n >= 0.95 * total)
    return within, p95 * 1000


def run_service(files: list[Path], env: dict[str, str], workers: int, clients: int, upload: str = "raw",
                pace: float | None = None) -> dict[str, float]:
    subprocess.run([sys.executable, "-m", "synthwatch.cli", "db", "upgrade"], env=env, check=True,
                   capture_output=True)
    subprocess.run([sys.executable, "-m", "synthwatch.cli", "admin", "tenant", "create", "bench"], env=env,
                   check=True, capture_output=True)
    key = subprocess.run([sys.executable, "-m", "synthwatch.cli", "admin", "key", "create", "--tenant", "bench",
                          "--role", "uploader"], env=env, check=True, capture_output=True,
                         text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "synthwatch.cli", "serve", "--port", str(port), "--workers",
                               str(workers), "--log-level", "warning"], env=env, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:  # API up and every worker registered (models loaded)
            try:
                ready = httpx.get(f"{base}/metrics", timeout=2).text
                if ready.count('synthwatch_worker_heartbeat_age_seconds{') >= workers and 'state="idle"' in ready:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise SystemExit("the service did not become ready in 120 s")
            time.sleep(0.5)
        post_lat: list[float] = []
        get_lat: list[float] = []
        lock = threading.Lock()
        queue = list(files)  # popped from the end: the videos first
        sent = [0]  # files taken so far (the schedule of --pace)
        errors: list[str] = []
        finished: dict[str, float] = {}

        def client() -> None:
            # as a platform would: submit with a callback_url, wait for the webhook, then GET the
            # result once; scans whose webhook is late are polled every POLL_S as a fallback
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}, timeout=120) as c:
                mine: list[str] = []
                while True:
                    with lock:
                        if not queue:
                            break
                        path = queue.pop()
                        due = t0 + sent[0] / pace if pace else 0.0
                        sent[0] += 1
                    content = path.read_bytes()
                    if pace:
                        time.sleep(max(0.0, due - time.perf_counter()))
                    t = time.perf_counter()
                    if upload == "raw":  # the file as the body, its name in Content-Disposition
                        r = c.post("/v1/scans", content=content, params={"callback_url": hook_url},
                                   headers={"Content-Type": "application/octet-stream",
                                            "Content-Disposition": f'attachment; filename="{path.name}"'})
                    else:
                        r = c.post("/v1/scans", files={"file": (path.name, content)}, data={"callback_url": hook_url})
                    dt = time.perf_counter() - t
                    with lock:
                        post_lat.append(dt)
                    if r.status_code != 202:
                        errors.append(f"POST {r.status_code}: {r.text[:200]}")
                        continue
                    mine.append(r.json()["id"])
                pending = set(mine)
                last_poll = time.monotonic()
                while pending:
                    time.sleep(0.2)
                    poll = time.monotonic() - last_poll > POLL_S
                    if poll:
                        last_poll = time.monotonic()
                    for sid in list(pending):
                        with lock:
                            announced = sid in finished
                        if not (announced or poll):
                            continue
                        t = time.perf_counter()
                        try:
                            r = c.get(f"/v1/scans/{sid}")
                        except httpx.TransportError:  # a pooled connection closed under us: GET again
                            t = time.perf_counter()
                            r = c.get(f"/v1/scans/{sid}")
                        dt = time.perf_counter() - t
                        with lock:
                            get_lat.append(dt)
                        body = r.json()
                        if body.get("status") in ("done", "failed"):
                            pending.discard(sid)
                            with lock:
                                finished.setdefault(sid, time.perf_counter())
                            if body["status"] == "failed":
                                errors.append(f"{sid}: {body.get('error')}")

        class Hook(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                at = time.perf_counter()
                sid = json.loads(body)["data"]["id"]
                with lock:
                    finished.setdefault(sid, at)
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                return None

        receiver = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hook)
        threading.Thread(target=receiver.serve_forever, daemon=True).start()
        hook_url = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
        t0 = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            for f in [pool.submit(client) for _ in range(clients)]:
                f.result()
        wall = max(finished.values()) - t0
        receiver.shutdown()
        server_post = _server_post_latency(httpx.get(f"{base}/metrics", timeout=10).text)
        worker_pids = children(server.pid)
        decoder_pids = [c for w in worker_pids for c in children(w)]
        figures = {
            "wall_s": wall, "items": len(files), "post_p50_ms": 1000 * pct(post_lat, 0.5),
            "post_p95_ms": 1000 * pct(post_lat, 0.95), "get_p50_ms": 1000 * pct(get_lat, 0.5),
            "get_p95_ms": 1000 * pct(get_lat, 0.95), "gets": len(get_lat),
            "api_peak_mb": vm_hwm_mb(server.pid),
            "worker_peak_mb": max((vm_hwm_mb(p) for p in worker_pids), default=0.0),
            "workers_total_peak_mb": sum(vm_hwm_mb(p) for p in worker_pids),
            "sandbox_peak_mb": max((vm_hwm_mb(p) for p in decoder_pids), default=0.0),
            "errors": len(errors),
            "server_post_le_50ms": server_post[0], "server_post_p95_bucket_ms": server_post[1],
        }
        if errors:
            print("errors:", *errors[:5], sep="\n  ", file=sys.stderr)
        return figures
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(90)
        except subprocess.TimeoutExpired:
            server.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--audio", type=int, default=50)
    ap.add_argument("--videos", type=int, default=5)
    ap.add_argument("--clients", type=int, default=50)
    ap.add_argument("--workers", type=int, default=1, help="service worker processes (each gets cores/workers ONNX threads)")
    ap.add_argument("--upload", choices=("raw", "multipart"), default="raw",
                    help="how clients send files: the raw body (recommended) or a multipart form")
    ap.add_argument("--pace", type=float, default=None, metavar="R",
                    help="send the files at R a second (default: every client at once, a burst)")
    ap.add_argument("--no-cli", action="store_true", help="skip the synthwatch scan phase (no throughput ratio)")
    args = ap.parse_args()

    model_dir = get_settings().model_dir
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-service-"))
    try:
        home = tmp / "home"
        home.mkdir()
        (home / "models").symlink_to(model_dir.resolve())
        env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHWATCH_")}
        env.update({"SYNTHWATCH_HOME": str(home), "SYNTHWATCH_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
                    "SYNTHWATCH_LOG_LEVEL": "WARNING",
                    "SYNTHWATCH_SERVICE__FETCH_ALLOW": '["127.0.0.1/32"]',  # the webhook receiver
                    # a platform's upload key: a 255-file burst must not meet the default limit (429)
                    "SYNTHWATCH_SERVICE__RATE_LIMIT_PER_MINUTE": "60000", "SYNTHWATCH_SERVICE__RATE_LIMIT_BURST": "1000"})
        t = time.perf_counter()
        files = generate(tmp / "media", args.images, args.audio, args.videos)
        print(f"generated {len(files)} files in {time.perf_counter() - t:.1f} s "
              f"({args.images} images, {args.audio} audio clips, {args.videos} videos)", flush=True)
        load0 = os.getloadavg()[0]
        if args.no_cli:
            cli_wall, cli_n, cli_peak = float("nan"), 0, float("nan")
        else:
            cli_wall, cli_n, cli_peak = run_cli(tmp / "media", env)
            print(f"synthwatch scan: {cli_n} items in {cli_wall:.1f} s", flush=True)
        load1 = os.getloadavg()[0]
        svc = run_service(files, env, args.workers, args.clients, args.upload, args.pace)
        load2 = os.getloadavg()[0]
        cli_rate = cli_n / cli_wall if cli_n else float("nan")
        svc_rate = svc["items"] / svc["wall_s"]
        arrivals = f"at {args.pace:g}/s" if args.pace else "all at once"
        rows = [
            ("items", f"{len(files)}"),
            ("synthwatch scan (CLI) items/s", f"{cli_rate:.2f}  ({cli_wall:.1f} s, peak RSS {cli_peak:.0f} MB)"),
            (f"synthwatch serve ({args.workers} workers, {args.clients} clients, {args.upload} uploads {arrivals}) items/s",
             f"{svc_rate:.2f}  ({svc['wall_s']:.1f} s, first POST to last result)"),
            ("service / CLI throughput", f"{svc_rate / cli_rate:.2f}  (goal >= 0.85)"),
            ("POST /v1/scans latency p50 / p95", f"{svc['post_p50_ms']:.1f} / {svc['post_p95_ms']:.1f} ms  (goal p95 < 50 ms)"),
            ("POST inside the API: share <= 50 ms / p95 bucket",
             f"{100 * svc['server_post_le_50ms']:.0f} % / <= {svc['server_post_p95_bucket_ms']:.0f} ms  (API histogram)"),
            ("GET /v1/scans/{id} latency p50 / p95", f"{svc['get_p50_ms']:.1f} / {svc['get_p95_ms']:.1f} ms  ({int(svc['gets'])} GETs)"),
            ("peak RSS: API process", f"{svc['api_peak_mb']:.0f} MB"),
            ("peak RSS: one worker (max) / all workers", f"{svc['worker_peak_mb']:.0f} / {svc['workers_total_peak_mb']:.0f} MB"),
            ("peak RSS: a worker's sandboxed decoder (max)", f"{svc['sandbox_peak_mb']:.0f} MB"),
            ("failed scans / errors", f"{int(svc['errors'])}"),
            ("1-min load average: start / after CLI / after service",
             f"{load0:.1f} / {load1:.1f} / {load2:.1f}  (on {os.cpu_count()} cores: other work competes when > cores)"),
        ]
        width = max(len(r[0]) for r in rows)
        print()
        for name, value in rows:
            print(f"{name:<{width}}  {value}")
        print(json.dumps({"cli_items_per_s": cli_rate, "service_items_per_s": svc_rate, **svc}), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
