"""Real worker processes: kill -9 mid-scan, a job that keeps killing its worker, graceful shutdown,
and ``synthwatch serve`` over real HTTP."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from synthwatch.service.storage import schema
from synthwatch.testing import samples

from .conftest import Env, children_of, cli_env, stop_process, synthwatch_cmd, wait_for

LEASE = "3"


@pytest.fixture(scope="module")
def long_video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A video whose first scan in a fresh worker takes several seconds (cold decoders)."""
    return samples.make_video(tmp_path_factory.mktemp("long") / "long.mp4", seconds=6.0, size=(320, 240), fps=25,
                              seed=21)


class Workers:
    def __init__(self, env: Env, **service: str) -> None:
        self.env = env
        self.service = {"lease_s": LEASE, "poll_interval_s": "0.1", **service}
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(synthwatch_cmd("worker", "--log-level", "warning"),
                                env=cli_env(self.env.home, self.env.settings.db_url, **self.service),
                                stdin=subprocess.DEVNULL)
        self.procs.append(proc)
        return proc

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def workers(env: Env) -> Iterator[Any]:
    made: list[Workers] = []

    def make(env_: Env | None = None, **service: str) -> Workers:
        w = Workers(env_ or env, **service)
        made.append(w)
        return w

    yield make
    for w in made:
        w.close()


def _scan(env: Env, sid: str) -> dict[str, Any]:
    return env.client.get(f"/v1/scans/{sid}", headers=env.auth()).json()  # type: ignore[no-any-return]


def _job_history(env: Env, sid: str) -> list[str]:
    with env.core.db.read() as conn:
        job = env.core.stores.jobs.for_ref(conn, sid)
    assert job is not None
    return [h["outcome"] for h in job.history]


def _count_events(env: Env, sid: str, action: str) -> int:
    with env.core.db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(schema.events).where(
            schema.events.c.object_id == sid, schema.events.c.action == action)).scalar_one())


def test_kill_9_mid_scan_loses_nothing(env: Env, workers: Any, long_video: Path) -> None:
    pool = workers()
    first = pool.start()
    sid = env.upload(long_video, external_id="kill-me").json()["id"]
    wait_for(lambda: _scan(env, sid)["status"] == "running", 60, what="the scan to start")
    first.send_signal(signal.SIGKILL)  # mid-scan
    first.wait(10)
    assert _scan(env, sid)["status"] == "running"  # nothing finished it
    pool.start()  # another worker picks it up once the lease has expired
    done = wait_for(lambda: (s := _scan(env, sid))["status"] in ("done", "failed") and s, 120, what="the re-run")
    assert done["status"] == "done" and done["attempts"] == 2, done
    assert done["report"]["media"]["kind"] == "video"
    assert _job_history(env, sid) == ["started", "lease_expired", "started", "done"]
    assert _count_events(env, sid, "scan.completed") == 1  # completed once


def test_a_job_that_keeps_killing_its_worker_ends_failed(env_factory: Any, workers: Any, long_video: Path) -> None:
    env = env_factory(max_attempts=2)
    pool = workers(env, max_attempts="2")
    sid = env.upload(long_video).json()["id"]
    for attempt in (1, 2):
        proc = pool.start()
        wait_for(lambda a=attempt: (s := _scan(env, sid))["status"] == "running" and s["attempts"] == a, 90,
                 what=f"attempt {attempt}")
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    pool.start()  # sweeps: the last allowed attempt lost its lease
    failed = wait_for(lambda: (s := _scan(env, sid))["status"] == "failed" and s, 60, what="the job to fail")
    assert failed["error"]["code"] == "worker_lost" and "2 attempts" in failed["error"]["message"]
    assert _job_history(env, sid)[-1] == "lease_expired"
    time.sleep(float(LEASE) + 0.5)
    assert _scan(env, sid)["status"] == "failed"  # never picked up again


def test_graceful_shutdown_finishes_or_returns_the_job(env: Env, workers: Any, long_video: Path) -> None:
    patient = workers(shutdown_grace_s="900").start()  # longer than the scan takes on any machine, however loaded
    sid = env.upload(long_video).json()["id"]
    wait_for(lambda: _scan(env, sid)["status"] == "running", 60, what="the scan to start")
    patient.send_signal(signal.SIGTERM)
    assert patient.wait(960) == 0
    done = _scan(env, sid)
    assert done["status"] == "done" and done["attempts"] == 1  # finished within the grace period
    assert children_of(patient.pid) == []

    hasty = workers(shutdown_grace_s="0").start()
    other = env.upload(long_video, declared_ai=True).json()["id"]  # not reused: another declaration
    wait_for(lambda: _scan(env, other)["status"] == "running", 60, what="the second scan to start")
    hasty.send_signal(signal.SIGTERM)
    assert hasty.wait(30) == 0
    back = _scan(env, other)
    assert back["status"] == "queued", back  # handed back, not lost and not failed
    assert _job_history(env, other) == ["started", "returned"]
    env.drain()
    final = _scan(env, other)
    assert final["status"] == "done" and final["attempts"] == 1  # the returned attempt did not count


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_over_http_then_stop_leaves_no_process(env: Env, svc_media: dict[str, Path], tmp_path: Path) -> None:
    import httpx2 as httpx

    port = _free_port()
    log = (tmp_path / "serve.log").open("wb")
    proc = subprocess.Popen(synthwatch_cmd("serve", "--port", str(port), "--workers", "1", "--log-level", "warning"),
                            env=cli_env(env.home, env.settings.db_url, lease_s=LEASE), stdout=log, stderr=log,
                            stdin=subprocess.DEVNULL)
    try:
        base = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(up, 60, 0.2, "the API")
        key = env.key("uploader")
        with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {key}"}) as client:
            with open(svc_media["audio"], "rb") as fh:
                r = client.post("/v1/scans", files={"file": ("speech.wav", fh)}, data={"external_id": "http"})
            assert r.status_code == 202, r.text
            sid = r.json()["id"]
            done = wait_for(lambda: (s := client.get(f"/v1/scans/{sid}").json())["status"] == "done" and s, 90, 0.2,
                            "the scan over HTTP")
            assert done["report"]["media"]["kind"] == "audio"
            workers_seen = children_of(proc.pid)
            assert len(workers_seen) >= 1  # the scan ran in a worker process, not in the API
            metrics = client.get("/metrics").text
            assert 'synthwatch_worker_heartbeat_age_seconds{' in metrics
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        for pid in workers_seen:
            assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
    finally:
        stop_process(proc)
        log.close()
    state = json.loads(json.dumps([w.state for w in _workers(env)]))
    assert state and all(s == "stopped" for s in state)


def _workers(env: Env) -> list[Any]:
    with env.core.db.read() as conn:
        return env.core.stores.workers.list(conn)


