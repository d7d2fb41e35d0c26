"""Live audio rooms benchmark: prints figures, asserts nothing.

``synthwatch serve --workers 0`` (the API alone, with its default voice detector, sw-voice, and the
Silero VAD) on a fresh SQLite database; for each load level N, N speakers stream into one room at
once at real-time pace through ``WebSocket /v1/rooms/{room}/live`` (binary PCM, 100 ms frames, the
``rooms simulate`` client): real read speech from ``../shared/data/speech-real`` (LibriSpeech), and
a fifth of them (at least 3) are fake speakers who join mid-stream and speak synthetic speech from
``../shared/data/speech-demos`` (HiFi-GAN, MelGAN, VITS, Tortoise, FreeVC demo outputs). sw-voice's
card says what it saw: MelGAN demo outputs and some LibriSpeech speakers in training, the other demo
sets in its calibration pool; this measures the live pipeline, not the detector's accuracy.

Per level it prints:

- alert latency: the alert's arrival at the client minus the audio time where the fake speaker's
  synthetic speech begins (first 20 ms frame above -40 dBFS), p50 / p95 / max, and how many fake
  speakers were alerted at all (sw-voice's recall on these families, not a property of the rooms);
- skipped windows and skipped audio (the server's backpressure: anything but 0 means the level was
  not held), ``lagging`` events, close codes;
- CPU of the server process per second of speaker audio, and what that makes per core;
- false alerts on real speech, per speaker-hour (the detector's false positives at its calibrated
  threshold, at this window / smoothing setting).

A level is "held" when every stream ended normally, nothing was skipped and the alert latency p95
is at most 3 s. The client runs in this process on the same machine (its CPU is printed too).

    python benchmarks/rooms.py                          # levels 10,25,50,100,150; 40 s each
    python benchmarks/rooms.py --levels 10,50 --seconds 30

Models come from $SYNTHWATCH_HOME/models (``synthwatch models setup``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np

SR = 16_000
FRAME_S = 0.1  # audio per message
DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
FAKE_SETS = ["speech-demos/hifi-gan-demo", "speech-demos/melgan-demo", "speech-demos/vits-demo",
             "speech-demos/tortoise-tts", "speech-demos/freevc-demo"]


def pct(xs: list[float], p: float) -> float:
    if not xs:
        return float("nan")
    xs = sorted(xs)
    k = (len(xs) - 1) * p / 100
    lo = int(k)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (k - lo)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (and its waited-for children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return sum(int(v) for v in fields[11:15]) / tick


def load_pool(paths: list[Path]) -> list[np.ndarray]:
    from synthwatch.stream.simulate import load_speaker_audio

    out = []
    for p in paths:
        x = load_speaker_audio(p)
        if x.size >= SR:
            out.append(x.astype(np.float32))
    return out


def fill(pool: list[np.ndarray], seconds: float, rng: random.Random) -> np.ndarray:
    """Clips from ``pool`` with 0.3 s pauses between them, cut to ``seconds``."""
    parts: list[np.ndarray] = []
    n = 0
    gap = np.zeros(int(0.3 * SR), np.float32)
    while n < seconds * SR:
        clip = pool[rng.randrange(len(pool))]
        parts += [clip, gap]
        n += clip.size + gap.size
    return np.concatenate(parts)[:int(seconds * SR)]


def onset_s(x: np.ndarray) -> float:
    """Where speech begins: the first 20 ms frame above -40 dBFS."""
    step = SR // 50
    for i in range(0, x.size - step, step):
        if np.sqrt(np.mean(x[i:i + step] ** 2)) > 0.01:
            return i / SR
    return 0.0


def metric(text: str, name: str) -> float:
    m = re.search(rf"^{name}(?:_total)? ([0-9.e+-]+)$", text, re.M)
    return float(m.group(1)) if m else float("nan")


def scored_windows(port: int) -> tuple[float, float]:
    """(windows scored, windows skipped) so far, from the server's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    return metric(text, "synthwatch_room_windows_scored"), metric(text, "synthwatch_room_windows_skipped")


def run_level(url: str, key: str, n: int, seconds: float, real: list[np.ndarray], fake: list[np.ndarray],
              rng: random.Random, pid: int, port: int) -> dict[str, Any]:
    from synthwatch.stream.simulate import SimSpeaker, simulate

    n_fake = max(3, n // 5)
    speakers: list[SimSpeaker] = []
    fake_onsets: dict[str, float] = {}
    for i in range(n - n_fake):
        speakers.append(SimSpeaker(f"real-{i:03d}", audio=fill(real, seconds, rng)))
    for i in range(n_fake):
        join = rng.uniform(0.2, 0.5) * seconds
        audio = fill(fake, seconds - join, rng)
        name = f"fake-{i:03d}"
        fake_onsets[name] = onset_s(audio)
        speakers.append(SimSpeaker(name, audio=audio, join_at_s=join))
    scored0, skipped0 = scored_windows(port)
    c0, s0, w0 = cpu_s(pid), time.process_time(), time.monotonic()
    results = asyncio.run(simulate(url, key, f"bench-{n}", speakers, frame_ms=int(FRAME_S * 1000), stop_wait_s=60.0))
    wall = time.monotonic() - w0
    server_cpu = cpu_s(pid) - c0
    client_cpu = time.process_time() - s0
    scored1, skipped1 = scored_windows(port)
    scored, skipped = scored1 - scored0, skipped1 - skipped0
    audio_s = sum(r.sent_s for r in results)
    real_s = sum(r.sent_s for r in results if r.name.startswith("real-"))
    latencies, decided, delivery = [], [], []
    for r in results:
        if r.name in fake_onsets and r.alerts:
            a = r.alerts[0]
            latencies.append(float(a["received_at"]) - fake_onsets[r.name])
            decided.append(float(a["t_end"]) - fake_onsets[r.name])  # audio needed: onset to the deciding window's end
            # that window's last sample sent (with the frame that ends at t_end, FRAME_S earlier) -> alert in
            delivery.append(float(a["received_at"]) - (float(a["t_end"]) - FRAME_S))
    stopped = [e for r in results for e in r.events if e.get("event") == "stopped"]
    codes: dict[str, int] = {}
    for r in results:
        codes[str(r.close_code)] = codes.get(str(r.close_code), 0) + 1
    false_alerts = sum(len(r.alerts) for r in results if r.name.startswith("real-"))
    out = {
        "streams": n, "fake": n_fake, "wall_s": wall, "audio_s": audio_s,
        "alerted_fakes": len(latencies), "latency_p50": pct(latencies, 50), "latency_p95": pct(latencies, 95),
        "latency_max": max(latencies) if latencies else float("nan"),
        "decided_p50": pct(decided, 50), "delivery_p50": pct(delivery, 50), "delivery_p95": pct(delivery, 95),
        "skipped_windows": sum(int(e.get("skipped_windows") or 0) for e in stopped),
        "skipped_audio_s": sum(float(e.get("skipped_audio_s") or 0) for e in stopped),
        "lagging": sum(1 for r in results for e in r.events if e.get("event") == "lagging"),
        "closes": codes, "errors": [r.error for r in results if r.error][:3],
        "server_cpu_s": server_cpu, "client_cpu_s": client_cpu,
        "cpu_per_audio_s": server_cpu / audio_s if audio_s else float("nan"),
        "windows_scored": scored, "server_cores": server_cpu / wall,
        # the server's CPU per second of audio had every due window been scored (the measured cost
        # per scored window, times the windows a speaker-second brings)
        "cpu_per_audio_s_all": server_cpu / scored * (scored + skipped) / audio_s if scored and audio_s else float("nan"),
        "false_alerts": false_alerts, "real_hours": real_s / 3600.0,
        "load1": os.getloadavg()[0],
    }
    out["alerts"] = sorted((r.name, round(float(a["t_start"]), 3), round(float(a["t_end"]), 3), a["score"])
                           for r in results for a in r.alerts)
    out["capacity_held"] = codes == {"1000": n} and out["skipped_windows"] == 0 and out["skipped_audio_s"] == 0 \
        and out["lagging"] == 0
    out["held"] = (codes == {"1000": n} and out["skipped_windows"] == 0 and out["skipped_audio_s"] == 0
                   and bool(latencies) and out["latency_p95"] <= 3.0)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--levels", default="10,25,50,100,150", help="concurrent speaker streams per level")
    ap.add_argument("--seconds", type=float, default=40.0, help="length of each level's streams")
    ap.add_argument("--seed", type=int, default=15)
    ap.add_argument("--hop", type=float, default=None, help="window hop in seconds (default: the service's, 2 s)")
    ap.add_argument("--set", action="append", default=[], metavar="OPTION=VALUE",
                    help="a live-room setting for the server (SYNTHWATCH_ROOMS__OPTION), e.g. evidence_picture=false")
    ap.add_argument("--stop-after-fail", action="store_true", help="stop at the first level not held")
    ap.add_argument("--alerts-out", type=Path, default=None, metavar="FILE",
                    help="write every alert (level, participant, t_start, t_end, score) as JSON lines: two runs "
                         "with the same --seed stream the same audio, so their files compare what was detected")
    args = ap.parse_args()
    if not DATA.is_dir():
        raise SystemExit(f"{DATA} is absent: this benchmark streams real and synthetic speech from ../shared/data")

    from synthwatch.config import get_settings

    print(f"started {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())} UTC, load average "
          f"{' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    rng = random.Random(args.seed)
    real_files = sorted((DATA / "speech-real").rglob("*.flac"))
    fake_files = sorted(p for s in FAKE_SETS for p in (DATA / s).rglob("*.flac") if "/fake/" in str(p))
    rng.shuffle(real_files)
    rng.shuffle(fake_files)
    t = time.perf_counter()
    real, fake = load_pool(real_files[:120]), load_pool(fake_files[:120])
    print(f"decoded {len(real)} real clips ({sum(x.size for x in real) / SR / 60:.1f} min) and {len(fake)} "
          f"synthetic clips ({sum(x.size for x in fake) / SR / 60:.1f} min) in {time.perf_counter() - t:.1f} s",
          flush=True)

    model_dir = get_settings().model_dir
    tmp = Path(tempfile.mkdtemp(prefix="sw-bench-rooms-"))
    home = tmp / "home"
    home.mkdir()
    (home / "models").symlink_to(model_dir.resolve())
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHWATCH_")}
    env.update({"SYNTHWATCH_HOME": str(home), "SYNTHWATCH_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
                "SYNTHWATCH_LOG_LEVEL": "WARNING", "SYNTHWATCH_ROOMS__MAX_STREAMS": "1000"})
    if args.hop:
        env["SYNTHWATCH_ROOMS__HOP_S"] = str(args.hop)
    for item in args.set:
        option, _, value = item.partition("=")
        env[f"SYNTHWATCH_ROOMS__{option.upper()}"] = value
    cli = [sys.executable, "-m", "synthwatch.cli"]
    subprocess.run([*cli, "db", "upgrade"], env=env, check=True, capture_output=True)
    subprocess.run([*cli, "admin", "tenant", "create", "bench"], env=env, check=True, capture_output=True)
    key = subprocess.run([*cli, "admin", "key", "create", "--tenant", "bench", "--role", "ingest"], env=env,
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    port = free_port()
    server = subprocess.Popen([*cli, "serve", "--port", str(port), "--workers", "0", "--log-level", "warning"],
                              env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL)
    rows: list[dict[str, Any]] = []
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the service did not start in 120 s") from None
                time.sleep(0.5)
        url = f"ws://127.0.0.1:{port}"
        # warm-up: the first stream loads the models
        run_level(url, key, 3, 6.0, real, fake, rng, server.pid, port)
        for n in [int(v) for v in args.levels.split(",")]:
            row = run_level(url, key, n, args.seconds, real, fake, rng, server.pid, port)
            rows.append(row)
            if args.alerts_out is not None:
                with args.alerts_out.open("a", encoding="utf-8") as fh:
                    for a in row["alerts"]:
                        fh.write(json.dumps({"level": n, "participant": a[0], "t_start": a[1], "t_end": a[2],
                                             "score": a[3]}) + "\n")
            print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in row.items()
                              if k != "alerts"}), flush=True)
            if args.stop_after_fail and not row["held"]:
                break
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(90)
        except subprocess.TimeoutExpired:
            server.kill()

    print()
    print(f"machine: {os.cpu_count()} cores; sw-voice + Silero VAD; {args.seconds:g} s streams, 100 ms frames; "
          f"a fifth of the speakers (at least 3) join mid-stream with synthetic speech; hop "
          f"{args.hop or 2.0:g} s{'; ' + ', '.join(args.set) if args.set else ''}")
    print(f"{'streams':>7} {'held':>5} {'alerted':>8} {'lat p50':>8} {'lat p95':>8} {'lat max':>8} {'skipped':>8} "
          f"{'lagging':>7} {'srv cores':>9} {'CPU/audio-s':>11} {'streams/core':>12} {'client CPU':>10} {'load1':>6}")
    for r in rows:
        per_core = 1.0 / r["cpu_per_audio_s_all"] if r["cpu_per_audio_s_all"] > 0 else float("inf")
        print(f"{r['streams']:>7} {'yes' if r['held'] else 'NO':>5} {r['alerted_fakes']:>3}/{r['fake']:<4} "
              f"{r['latency_p50']:>7.2f}s {r['latency_p95']:>7.2f}s {r['latency_max']:>7.2f}s "
              f"{r['skipped_audio_s']:>7.1f}s {r['lagging']:>7} {r['server_cores']:>9.2f} "
              f"{r['cpu_per_audio_s_all'] * 1000:>8.1f} ms {per_core:>12.0f} {r['client_cpu_s']:>9.1f}s {r['load1']:>6.2f}")
    print("srv cores: CPU the server process got (cores, averaged over the level); CPU/audio-s: its CPU per second "
          "of speaker audio had every due window been scored; streams/core: 1 / that")
    held = [r["streams"] for r in rows if r["held"]]
    print("latency = onset of synthetic speech -> alert at the client = audio the detector needed (onset -> end of "
          "the deciding window) + delivery (that window's last sample sent -> alert received):")
    for r in rows:
        print(f"  {r['streams']:>4} streams: audio needed p50 {r['decided_p50']:.2f} s, delivery p50 "
              f"{r['delivery_p50']:.2f} s / p95 {r['delivery_p95']:.2f} s")
    print(f"largest level held (all streams normal, nothing skipped, alert latency p95 <= 3 s): "
          f"{max(held) if held else 'none'}")
    kept = [r["streams"] for r in rows if r["capacity_held"]]
    print(f"largest level the server kept up with (all streams normal, nothing skipped, no 'lagging'; whatever "
          f"the detector's recall): {max(kept) if kept else 'none'}")
    fa = sum(r["false_alerts"] for r in rows)
    hours = sum(r["real_hours"] for r in rows)
    print(f"false alerts on real speech: {fa} in {hours * 60:.1f} speaker-minutes = {fa / hours if hours else 0:.1f} "
          f"per speaker-hour (sw-voice at its calibrated threshold)")
    print(f"server /metrics: windows scored {metric(metrics, 'synthwatch_room_windows_scored'):.0f}, skipped "
          f"{metric(metrics, 'synthwatch_room_windows_skipped'):.0f}, analysis CPU "
          f"{metric(metrics, 'synthwatch_room_analysis_seconds'):.1f} s")


if __name__ == "__main__":
    main()
