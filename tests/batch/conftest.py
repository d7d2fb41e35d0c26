"""Batch test fixtures: a small mixed set of generated media (with bad items), the CLI run as a
real process, and a real two-node Ray cluster on 127.0.0.1 started and stopped by the tests.

The cluster: ``ray start --head --node-ip-address 127.0.0.1`` plus a second node joining it with
``ray start --address 127.0.0.1:PORT``, one CPU each, token authentication on (a token in the
cluster's own temporary folder), usage statistics off. Ray rewrites a loopback ``--node-ip-address``
into the machine's outward address and then binds its servers on every interface, except when
``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0`` (its single-machine mode, which refuses a second
``ray start``). So the head and the drivers run in that mode, and the second node runs Ray's own
``ray start`` entry point with the loopback rewrite turned off: every node advertises 127.0.0.1
and listens on 127.0.0.1 only. Each node's processes form their own process group, ended by id
(SIGTERM, then SIGKILL), and the fixture checks that none is left.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from synthwatch.testing import samples

DEBUG = ["debug-image", "debug-face", "debug-voice"]
DEBUG_ARG = ",".join(DEBUG)


@dataclass(frozen=True)
class MediaSet:
    folder: Path
    good: list[Path]
    bad: dict[str, Path]  # name -> file the scan must reject

    @property
    def all(self) -> list[Path]:
        return sorted([*self.good, *self.bad.values()])


@pytest.fixture(scope="session")
def batch_media(tmp_path_factory: pytest.TempPathFactory) -> MediaSet:
    """Two pictures (a dark and a bright one), speech, a short video with sound, and three bad
    files: random bytes named .jpg, a truncated MP4 and an empty WAV."""
    import numpy as np
    from PIL import Image

    d = tmp_path_factory.mktemp("batch-media")
    good = [
        samples.make_image(d / "face.jpg", size=(160, 120), seed=21),
        samples.make_speech(d / "speech.wav", seconds=2.0, seed=22),
        samples.make_video(d / "clip.mp4", seconds=2.0, size=(160, 120), fps=10, seed=23),
    ]
    bright = np.full((96, 128, 3), 235, np.uint8)
    Image.fromarray(bright).save(d / "bright.png")
    good.append(d / "bright.png")
    rng = np.random.default_rng(7)
    bad = {"noise": d / "noise.jpg", "truncated": d / "cut.mp4", "empty": d / "empty.wav"}
    bad["noise"].write_bytes(rng.integers(0, 256, 4096, dtype=np.uint8).tobytes())
    whole = (d / "clip.mp4").read_bytes()
    bad["truncated"].write_bytes(whole[: len(whole) // 3])
    bad["empty"].write_bytes(b"")
    return MediaSet(folder=d, good=sorted(good), bad=bad)


def cli(*args: str, home: Path, env: dict[str, str] | None = None, timeout: float = 600,
        new_session: bool = False) -> subprocess.CompletedProcess[bytes]:
    """``python -m synthwatch.cli ARGS`` as a separate process."""
    full = {**os.environ, "SYNTHWATCH_HOME": str(home), "COLUMNS": "200", **(env or {})}
    cmd = [sys.executable, "-m", "synthwatch.cli", *args]
    with subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=full,
                          start_new_session=new_session) as proc:
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            raise
    done = subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)
    done.pid = proc.pid  # type: ignore[attr-defined]  # the session id when new_session
    return done


def scan_jsonl_scores(files: list[Path], home: Path, detectors: str) -> dict[str, dict[str, float | None]]:
    """path -> {"verdict": score, detector: score...} from ``synthwatch scan --jsonl``."""
    import json

    res = cli("scan", *map(str, files), "--jsonl", "--detectors", detectors, home=home)
    assert res.returncode in (0, 1, 4, 5), res.stderr.decode("utf-8", "replace")
    out: dict[str, dict[str, float | None]] = {}
    for line in res.stdout.decode("utf-8").splitlines():
        doc = json.loads(line)
        out[os.path.abspath(doc["source"])] = {"verdict": doc["verdict"]["score"],
                                              **{d["name"]: d["score"] for d in doc["detectors"]}}
    return out


@pytest.fixture(scope="session")
def batch_media_scan(batch_media: MediaSet, tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, float | None]]:
    """``synthwatch scan --jsonl`` of every file of ``batch_media`` with the debug detectors, run once
    for the session: what every engine's scores are compared with."""
    return scan_jsonl_scores(batch_media.all, tmp_path_factory.mktemp("scan-home"), DEBUG_ARG)


def batch_scores(out: Path) -> dict[str, dict[str, float | None]]:
    from synthwatch.batch import iter_rows, read_results

    return {r["path"]: {"verdict": r["score"], **r["detector_scores"]} for r in iter_rows(read_results(out))
            if r["error_code"] is None}


# ------------------------------------------------------------------------------------------ Ray
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _group(pgid: int) -> list[str]:
    """Live (not zombie) processes of a process group: 'pid state command'."""
    res = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-g", str(pgid)], capture_output=True, text=True, check=False)
    return [line.strip() for line in res.stdout.splitlines() if line.split()[1:2] and not line.split()[1].startswith("Z")]


def _session(sid: int) -> list[str]:
    res = subprocess.run(["ps", "-o", "pid=,stat=,args=", "-s", str(sid)], capture_output=True, text=True, check=False)
    return [line.strip() for line in res.stdout.splitlines() if line.split()[1:2] and not line.split()[1].startswith("Z")]


def no_leftovers(sid: int, timeout: float = 20.0) -> list[str]:
    """Wait until no live process of session ``sid`` is left; returns those still alive."""
    deadline = time.monotonic() + timeout
    left = _session(sid)
    while left and time.monotonic() < deadline:
        time.sleep(0.5)
        left = _session(sid)
    return left


@dataclass
class RayCluster:
    address: str
    tmp: Path
    env: dict[str, str]  # what a driver process needs to reach the cluster
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def log(self, name: str) -> str:
        p = self.tmp / f"{name}.log"
        return p.read_text("utf-8", "replace") if p.exists() else ""


def _wait_started(proc: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = log.read_text("utf-8", "replace") if log.exists() else ""
        if "Ray runtime started" in text:
            return
        if proc.poll() is not None:
            raise RuntimeError(f"ray start exited with {proc.returncode}:\n{text[-3000:]}")
        time.sleep(0.2)
    raise RuntimeError(f"ray start did not come up within {timeout:.0f} s:\n{log.read_text('utf-8', 'replace')[-3000:]}")


def _stop(procs: list[subprocess.Popen[bytes]], grace_s: float = 2.0) -> list[str]:
    """End the nodes' process groups: SIGTERM (the joining node first), ``grace_s`` to exit,
    then SIGKILL; returns the processes still alive after that (none, normally). The grace is
    short because ``ray start --block``, the GCS server and the autoscaler monitor (Ray 2.60)
    do not exit on SIGTERM at all (still there 20 s later): waiting longer only delays the SIGKILL.
    (``ray stop`` is not used: it ends every Ray process of the machine, other people's too.)"""
    for p in reversed(procs):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(p.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline and any(_group(p.pid) for p in procs):
        time.sleep(0.5)
    for p in procs:
        if _group(p.pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_group(p.pid) for p in procs):
        time.sleep(0.2)
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=5)
    return [line for p in procs for line in _group(p.pid)]


_UNREWRITTEN_START = ("import ray._private.services as s; s.resolve_ip_for_localhost = lambda host: host; "
                      "from ray.scripts.scripts import main; main()")


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[RayCluster]:
    """Two Ray nodes on 127.0.0.1 (one CPU each), started for the module and stopped after it."""
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'synthwatch[ray]')")
    pytest.importorskip("ray.data", reason="Ray Data is not installed (pip install 'synthwatch[ray]')")
    from synthwatch.batch.ray_engine import LOCAL_ONLY_ENV

    tmp = Path(tempfile.mkdtemp(prefix="swray-", dir="/tmp"))  # short: Ray's socket paths must fit
    token = tmp / "auth_token"
    token.write_text(secrets.token_hex(32))
    token.chmod(0o600)
    port = _free_port()
    base = {**os.environ, "RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token",
            "RAY_AUTH_TOKEN_PATH": str(token)}
    base.pop("RAY_ADDRESS", None)
    driver_env = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token),
                  LOCAL_ONLY_ENV: "0"}

    def node_args() -> list[str]:
        return ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--object-store-memory", str(128 * 1024 * 1024),
                "--disable-usage-stats", "--block", "--dashboard-agent-listen-port", str(_free_port()),
                "--metrics-export-port", str(_free_port()), "--runtime-env-agent-port", str(_free_port())]

    ray_bin = str(Path(sys.executable).with_name("ray"))
    cluster = RayCluster(address=f"127.0.0.1:{port}", tmp=tmp, env=driver_env)
    try:
        with open(tmp / "head.log", "wb") as log:
            head = subprocess.Popen([ray_bin, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                                     "--temp-dir", str(tmp), *node_args()], stdout=log, stderr=subprocess.STDOUT,
                                    env={**base, LOCAL_ONLY_ENV: "0"}, start_new_session=True)
        cluster.procs.append(head)
        _wait_started(head, tmp / "head.log", 120)
        with open(tmp / "node2.log", "wb") as log:
            node = subprocess.Popen([sys.executable, "-c", _UNREWRITTEN_START, "start", "--address", cluster.address,
                                     *node_args()], stdout=log, stderr=subprocess.STDOUT, env=base,
                                    start_new_session=True)
        cluster.procs.append(node)
        _wait_started(node, tmp / "node2.log", 120)
        yield cluster
    finally:
        left = _stop(cluster.procs)
        if not left:
            import shutil

            shutil.rmtree(tmp, ignore_errors=True)
        assert not left, f"Ray processes left running: {left}"
