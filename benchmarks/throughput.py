"""Throughput and memory of the default scan on this machine. Prints figures; asserts nothing.

    python benchmarks/throughput.py                 # images/s, voice RTF, 60 s 1080p video, memory
    python benchmarks/throughput.py --hour          # also peak memory over a one-hour video
    python benchmarks/throughput.py --quick         # smaller inputs, for a smoke run

Models come from the store (``SYNTHWATCH_HOME``; run ``synthwatch models setup`` first, and
``synthwatch models setup --from-shared ../shared/models`` for the voice and face-forgery models).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def peak_rss_mb() -> float:
    """Peak resident memory (MB) of this process."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def worker_peak_mb() -> str:
    """Peak resident memory of each live sandboxed decoder process (VmHWM), in MB."""
    from synthwatch.media import sandbox

    peaks = []
    for pid in sandbox.worker_pids():
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            continue
        for ln in status.splitlines():
            if ln.startswith("VmHWM:"):
                peaks.append(f"{int(ln.split()[1]) / 1024:.0f} MB")
    return ", ".join(peaks) or "none alive"


def line(name: str, value: str) -> None:
    print(f"{name:<58} {value}", flush=True)


def bench_images(scanner, folder: Path, n: int) -> None:
    from synthwatch.testing.samples import make_image

    paths = []
    for i in range(n):
        p = folder / f"img{i}.jpg"
        make_image(p, size=(1024, 768), seed=i, face=True)
        paths.append(p)
    scanner.scan(paths[0])  # warm-up (model load)
    t = time.perf_counter()
    for p in paths:
        r = scanner.scan(p)
        assert r.error is None, r.error
    dt = time.perf_counter() - t
    line(f"images: {n} JPEG 1024x768, whole scan (decode+detectors)", f"{n / dt:.2f} images/s ({1000 * dt / n:.0f} ms/image)")


def bench_voice(store, folder: Path, seconds: float) -> None:
    from synthwatch.detectors import registry
    from synthwatch.errors import ModelError
    from synthwatch.testing.samples import make_speech

    sr = 16000
    wav = folder / "speech.wav"
    make_speech(wav, seconds=seconds, seed=1)
    import soundfile as sf

    audio, _ = sf.read(wav, dtype="float32")
    windows = [audio[i:i + 4 * sr] for i in range(0, len(audio) - 4 * sr + 1, 4 * sr)]
    for name in registry.available():
        cls = registry.detector_class(name)
        if cls.info.modality != "audio":
            continue
        det = cls()
        try:
            det.load(store)
        except ModelError as exc:
            line(f"voice RTF {name}", f"not measured: {exc}")
            continue
        det.score(windows[:2])
        t = time.perf_counter()
        det.score(windows, batch_size=8)
        dt = time.perf_counter() - t
        line(f"voice RTF {name} (detector only, {len(windows)} x 4 s windows)", f"{dt / (len(windows) * 4):.4f}")


def bench_audio_scan(scanner, folder: Path, seconds: float) -> None:
    from synthwatch.testing.samples import make_speech

    wav = folder / "speech-scan.flac"
    make_speech(wav, seconds=seconds, seed=2)
    t = time.perf_counter()
    r = scanner.scan(wav)
    dt = time.perf_counter() - t
    ran = [d.name for d in r.detectors if d.score is not None]
    line(f"audio scan {seconds:.0f} s FLAC (decode+VAD+{','.join(ran) or 'no voice detector'})",
         f"RTF {dt / seconds:.4f} ({seconds / dt:.1f}x real time)")


def bench_video(scanner, folder: Path, seconds: float, size: tuple[int, int], label: str) -> float:
    """Default sampling, after a 2 s warm-up clip (which builds what loads on first use: the
    token-merging encoder for video frames); then the same clip with exact frames for comparison."""
    from synthwatch.testing.samples import make_video

    p = folder / f"video-{label}.mp4"
    t = time.perf_counter()
    make_video(p, seconds=seconds, size=size, fps=30, codec="h264", audio=True, face=True)
    gen = time.perf_counter() - t
    warm = make_video(folder / f"warm-{label}.mp4", seconds=2.0, size=size, fps=30, codec="h264", audio=True)
    scanner.scan(warm)
    default = scanner.settings.sampling
    out = 0.0
    for name, sampling in (("default", default), ("exact frames", default.model_copy(update={"frame_token_merging": 0}))):
        t = time.perf_counter()
        r = scanner.scan(p, sampling=sampling)
        dt = time.perf_counter() - t
        assert r.error is None, r.error
        ran = ",".join(d.name for d in r.detectors if d.score is not None) or "none"
        line(f"video {label}, {name} (token merging {sampling.frame_token_merging}): {seconds:.0f} s "
             f"{size[0]}x{size[1]} H.264 30 fps + AAC (generated in {gen:.0f} s)",
             f"{seconds / dt:.1f}x real time ({dt:.1f} s; detectors run: {ran}; {len(r.faces)} face tracks)")
        out = out or dt
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--hour", action="store_true", help="also scan a generated one-hour video")
    ap.add_argument("--hour-size", default="640x360", help="frame size of the one-hour video")
    ap.add_argument("--only-hour", action="store_true", help="run only the one-hour memory measurement")
    ap.add_argument("--hour-video", type=Path, default=None,
                    help="use this one-hour video (made once, e.g. by an earlier run with --keep-hour) "
                         "instead of generating it")
    ap.add_argument("--keep-hour", type=Path, default=None, help="write the generated one-hour video here")
    args = ap.parse_args()

    from synthwatch import Scanner, get_settings
    from synthwatch.detectors import registry
    from synthwatch.models.store import ModelStore

    settings = get_settings()
    store = ModelStore(settings.model_dir)
    defaults = registry.default_names()
    print(f"synthwatch throughput on {platform.machine()} / {os.cpu_count()} cores / Python {platform.python_version()}")
    print(f"model store: {settings.model_dir}")
    print(f"default detectors: {', '.join(defaults)}")
    scanner = Scanner(settings, detectors=defaults)
    scanner.load()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        if not args.only_hour:
            bench_images(scanner, folder, 5 if args.quick else 20)
            bench_voice(store, folder, 20 if args.quick else 120)
            bench_audio_scan(scanner, folder, 20 if args.quick else 120)
            bench_video(scanner, folder, 10 if args.quick else 60, (1920, 1080), "1080p")
            line("peak RSS so far: scanner process / decoder processes", f"{peak_rss_mb():.0f} MB / {worker_peak_mb()}")
        if args.hour or args.only_hour:
            w, h = (int(x) for x in args.hour_size.split("x"))
            # a fresh process so the peak is that of the hour-long scan alone
            code = (
                "import sys,time,resource;from pathlib import Path;import synthwatch;"
                "from synthwatch.detectors import registry;"
                "from synthwatch.media import sandbox;"
                "s=synthwatch.Scanner(detectors=registry.default_names());t=time.perf_counter();"
                "r=s.scan(Path(sys.argv[1]));dt=time.perf_counter()-t;"
                # VmHWM, not ru_maxrss: on Linux exec() carries the parent's peak into ru_maxrss
                "me=max(int(l.split()[1])/1024 for l in open('/proc/self/status') if l.startswith('VmHWM:'));"
                "kid=max([int(l.split()[1])/1024 for p in sandbox.worker_pids() "
                "for l in open(f'/proc/{p}/status') if l.startswith('VmHWM:')] or [0]);"
                "print(f'{dt:.1f} {me:.0f} {kid:.0f} {r.error is None}')"
            )

            p = args.hour_video or args.keep_hour or folder / "hour.mp4"
            if args.hour_video is None:
                t = time.perf_counter()
                # generated in its own process: it synthesises the hour of speech in memory
                subprocess.run([sys.executable, "-c", "import sys;from synthwatch.testing.samples import make_video;"
                                "make_video(sys.argv[1],seconds=3600,size=(int(sys.argv[2]),int(sys.argv[3])),"
                                "fps=25,codec='h264',audio=True,face=True)", str(p), str(w), str(h)], check=True)
                line(f"one-hour {w}x{h} H.264 25 fps + AAC generated", f"{time.perf_counter() - t:.0f} s, "
                     f"{p.stat().st_size / 1e6:.0f} MB")
            else:
                line("one-hour video (given)", f"{p}, {p.stat().st_size / 1e6:.0f} MB")
            res = subprocess.run([sys.executable, "-c", code, str(p)], capture_output=True, text=True, check=True)
            dt, me, kid, err = res.stdout.split()[-4:]
            line("one-hour video: scan time / peak RSS scanner / peak RSS decoder",
                 f"{float(dt):.0f} s ({3600 / float(dt):.1f}x real time) / {me} MB / {kid} MB (scanned ok: {err})")


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
