"""Several ``synthwatch worker`` processes (as on separate hosts) against one real PostgreSQL
database: they share the queue without double work, survive a worker's ``kill -9`` and a restart
of the database server, and drain cleanly on SIGTERM.

The lease primitive is hammered directly (threads with their own connections, ``FOR UPDATE SKIP
LOCKED``); the whole path runs with real worker processes on a PostgreSQL server of the module's
own (initdb in a temporary folder, 127.0.0.1, a free port: never the shared server other tests
use), which the tests stop and start again while workers run. The moments that matter (a worker
with a job in hand when it is killed, when the database goes, when it is told to stop) do not
depend on the machine's speed: those jobs are URLs on a loopback server that holds its answer
until the test releases it.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from synthwatch.service.storage import schema
from synthwatch.testing import samples

from .conftest import (
    Env,
    LoopbackServer,
    Received,
    children_of,
    cli_env,
    make_env,
    synthwatch_cmd,
    wait_for,
)

pytestmark = pytest.mark.postgres

LEASE = "4"  # short, so a killed worker's job is taken over soon; heartbeats renew it every LEASE/3 s


# ------------------------------------------------------------------------------------------ a server of our own
def _pg_bin() -> Path | None:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: p.parent.parent.name)
    if found:
        return found[-1].parent
    which = shutil.which("pg_ctl")
    return Path(which).parent if which else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgServer:
    bin: Path
    root: Path
    port: int
    run_as: list[str]

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def admin_url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run([*self.run_as, *args], capture_output=True, text=True, timeout=timeout, check=True)

    def start(self) -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-l", str(self.root / "log"),
                  "-o", f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off "
                        "-c max_connections=200", "start")

    def stop(self, mode: str = "fast") -> None:
        self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "-m", mode, "stop")


@pytest.fixture(scope="module")
def pg_server() -> Iterator[PgServer]:
    """A throwaway PostgreSQL server (initdb + pg_ctl, 127.0.0.1 only) for this module's tests, which
    stop and start it; stopped and removed after."""
    bin_dir = _pg_bin()
    if bin_dir is None:
        pytest.skip("PostgreSQL's server binaries (initdb, pg_ctl) are not installed")
    if not os.environ.get(PG_ENV_NAME):
        pytest.skip(f"{PG_ENV_NAME} is not set: the PostgreSQL tests are off (.ci/run sets it); this test "
                    "starts a server of its own, which it stops and starts again")
    run_as: list[str] = []
    root = Path(tempfile.mkdtemp(prefix="sw-pgown-", dir="/tmp"))
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        try:
            user = pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root and there is no postgres user to run a PostgreSQL server as")
        os.chown(root, user.pw_uid, user.pw_gid)
        run_as = ["runuser", "-u", "postgres", "--"]
    server = PgServer(bin_dir, root, _free_port(), run_as)
    server._run(str(bin_dir / "initdb"), "-D", str(server.data), "-A", "trust", "-U", "postgres", "--no-sync")
    server.start()
    try:
        yield server
    finally:
        with contextlib.suppress(subprocess.SubprocessError):
            server.stop("immediate")
        shutil.rmtree(root, ignore_errors=True)


PG_ENV_NAME = "SYNTHWATCH_TEST_POSTGRES_URL"


def _database(server: PgServer) -> str:
    """A new database on ``server``; its URL."""
    name = f"sw_{secrets.token_hex(4)}"
    engine = sa.create_engine(server.admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    engine.dispose()
    return sa.engine.make_url(server.admin_url).set(database=name).render_as_string(hide_password=False)


# ------------------------------------------------------------------------------------------ helpers
class WorkerPool:
    """``synthwatch worker`` processes sharing one home (the shared media folder) and database."""

    def __init__(self, env: Env, **service: str) -> None:
        self.env = env
        self.service = {"lease_s": LEASE, "poll_interval_s": "0.1", "retry_delay_s": "0.5", **service}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self) -> subprocess.Popen[bytes]:
        log = self.env.home.parent / f"worker{len(self.procs)}.log"
        with open(log, "wb") as fh:
            proc = subprocess.Popen(synthwatch_cmd("worker", "--log-level", "warning"),
                                    env=cli_env(self.env.home, self.env.settings.db_url, **self.service),
                                    stdin=subprocess.DEVNULL, stdout=fh, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.logs.append(log)
        return proc

    def log(self, tail: int | None = 3000) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text('utf-8', 'replace')[-(tail or 0):]}" for p in self.logs
                         if p.exists())

    def close(self) -> None:
        for p in self.procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


@pytest.fixture
def pools() -> Iterator[Any]:
    made: list[WorkerPool] = []

    def make(env: Env, **service: str) -> WorkerPool:
        pool = WorkerPool(env, **service)
        made.append(pool)
        return pool

    yield make
    for pool in made:
        pool.close()


def _jobs(env: Env) -> list[dict[str, Any]]:
    with env.core.db.read() as conn:
        rows = conn.execute(sa.select(schema.jobs)).mappings().all()
    import json

    return [{**dict(r), "history": json.loads(r["history"] or "[]")} for r in rows]


def _scan_status(env: Env) -> Counter[str]:
    with env.core.db.read() as conn:
        return Counter(r[0] for r in conn.execute(sa.select(schema.scans.c.status)))


def _completed_events(env: Env) -> Counter[str]:
    with env.core.db.read() as conn:
        rows = conn.execute(sa.select(schema.events.c.object_id).where(schema.events.c.action == "scan.completed"))
        return Counter(r[0] for r in rows)


def _idle_workers(env: Env) -> int:
    with env.core.db.read() as conn:
        return sum(1 for w in env.core.stores.workers.list(conn) if w.state == "idle")


def _media(folder: Path, n: int, seed: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    return [samples.make_image(folder / f"i{seed + i}.png", size=(96, 72), seed=seed + i) for i in range(n)]


# ------------------------------------------------------------------------------------------ the lease primitive
def test_concurrent_leases_never_hand_out_a_job_twice(pg_url: str, tmp_path: Path) -> None:
    """Eight threads, each with its own engine (its own connections), lease and complete until the
    queue is empty: every job is leased exactly once."""
    from synthwatch.service.db import Database
    from synthwatch.service.storage.sql import SqlJobQueue, SqlTenants

    migrator = Database(pg_url)
    migrator.upgrade()
    n_jobs = 300
    with migrator.write() as conn:
        tenant = SqlTenants().create(conn, "t", {}).id
        queue = SqlJobQueue(migrator)
        for i in range(n_jobs):
            queue.enqueue(conn, "scan", f"ref{i:04d}", tenant, max_attempts=3)
    taken: list[tuple[str, str]] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        db = Database(pg_url, pool_size=2)
        q = SqlJobQueue(db)
        try:
            while True:
                job = q.lease(f"w{k}", 60.0, kinds=["scan"])
                if job is None:
                    return
                with lock:
                    taken.append((job.id, f"w{k}"))
                with db.write() as conn:
                    assert q.complete(conn, job.id, f"w{k}")
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            db.dispose()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join(120)
    migrator.dispose()
    assert not errors, errors
    ids = [j for j, _ in taken]
    assert len(ids) == n_jobs and len(set(ids)) == n_jobs  # all of them, none twice
    assert len({w for _, w in taken}) > 1  # shared, not serialised onto one


def test_queue_times_follow_the_database_clock_not_the_hosts(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """API and worker hosts whose clocks differ agree on the queue: its times come from PostgreSQL's
    clock. A job enqueued on a host whose clock runs an hour ahead is due at once for a worker with
    the right time, and a worker whose clock runs an hour ahead does not take a job another worker
    holds (by its own clock that lease would have run out long ago)."""
    from synthwatch.service.db import Database
    from synthwatch.service.storage import sql

    db = Database(pg_url)
    db.upgrade()
    real = sql.now
    try:
        queue = sql.SqlJobQueue(db)
        with db.write() as conn:
            tenant = sql.SqlTenants().create(conn, "t", {}).id
        monkeypatch.setattr(sql, "now", lambda: real() + 3600)  # the API host, an hour ahead
        with db.write() as conn:
            queue.enqueue(conn, "scan", "r1", tenant, max_attempts=3)
        monkeypatch.setattr(sql, "now", real)  # a worker with the right time
        job = queue.lease("w-right", 60.0, kinds=["scan"])
        assert job is not None and job.ref == "r1"
        monkeypatch.setattr(sql, "now", lambda: real() + 3600)  # another worker, an hour ahead
        assert queue.lease("w-ahead", 60.0, kinds=["scan"]) is None
        assert queue.abandon_expired() == []
        assert queue.renew(job.id, "w-right", 60.0)
        with db.write() as conn:
            assert queue.complete(conn, job.id, "w-right")
    finally:
        db.dispose()


def test_a_finished_scan_survives_a_database_restart_at_commit(pg_server: PgServer, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """The database goes away just as a worker stores a finished scan: the worker retries the commit
    and stores it once the server is back, in the same attempt (the scan is not thrown away)."""
    from synthwatch.service.jobs import scan_job

    env = make_env(tmp_path / "svc", _database(pg_server), lease_s=2.0)
    outage: list[threading.Thread] = []
    try:
        sid = env.upload(_media(tmp_path / "m", 1, seed=300)[0]).json()["id"]
        real = scan_job._finish_once

        def finish_during_outage(*args: Any, **kwargs: Any) -> bool:
            if not outage:
                pg_server.stop("fast")
                outage.append(threading.Thread(target=lambda: (time.sleep(1.0), pg_server.start())))
                outage[0].start()
            return real(*args, **kwargs)

        monkeypatch.setattr(scan_job, "_finish_once", finish_during_outage)
        assert env.worker.run_once()
        outage[0].join(60)
        done = env.client.get(f"/v1/scans/{sid}", headers=env.auth()).json()
        assert done["status"] == "done" and done["attempts"] == 1, done
        (job,) = [j for j in _jobs(env) if j["ref"] == sid]
        assert [h["outcome"] for h in job["history"]] == ["started", "done"]
        assert _completed_events(env)[sid] == 1
    finally:
        for th in outage:
            th.join(120)  # the server is up again for the next test
        env.client.close()
        env.core.db.dispose()



# ------------------------------------------------------------------------------------------ real worker processes
class HeldMedia:
    """A picture served at ``path`` by the loopback server, whose answer waits until :meth:`release`:
    the worker fetching it has its job in hand, and keeps it, for as long as the test needs."""

    def __init__(self, server: LoopbackServer, path: str, picture: Path) -> None:
        self.path = path
        self.url = server.url(path)
        self.hits = 0
        self._released = threading.Event()
        body = picture.read_bytes()

        def answer(_req: Received) -> tuple[int, dict[str, str], bytes]:
            self.hits += 1
            self._released.wait(300)
            return 200, {"Content-Type": "image/png"}, body

        server.routes[path] = answer

    def release(self) -> None:
        self._released.set()


def _submit_url(env: Env, url: str) -> str:
    res = env.client.post("/v1/scans", json={"url": url}, headers=env.auth())
    assert res.status_code in (200, 201, 202), res.text
    return str(res.json()["id"])


def _job(env: Env, ref: str) -> dict[str, Any]:
    return next(j for j in _jobs(env) if j["ref"] == ref)


def _outcomes(job: dict[str, Any]) -> list[str]:
    return [h["outcome"] for h in job["history"]]


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_workers_share_the_queue_survive_kill_and_db_restart_and_drain(pg_server: PgServer, pools: Any,
                                                                       http_server: LoopbackServer,
                                                                       tmp_path: Path) -> None:
    """Three worker processes on one PostgreSQL database: (1) a batch is shared, each job run once;
    (2) kill -9 of the worker holding a job: another takes it over when the lease runs out;
    (3) the database server restarts while one worker holds a job and others work: nobody dies,
    every scan is completed exactly once; (4) SIGTERM: no new job is taken, the one in hand is
    finished, the processes exit 0 and leave no child."""
    url = _database(pg_server)
    env = make_env(tmp_path / "svc", url, lease_s=float(LEASE))
    pictures = _media(tmp_path / "held", 3, seed=500)
    kill_me, in_hand, last = (HeldMedia(http_server, f"/held/{n}.png", p)
                              for n, p in zip(("kill", "busy", "last"), pictures, strict=True))
    try:
        pool = pools(env, fetch_allow='["127.0.0.1/32"]', fetch_timeout_s="600", shutdown_grace_s="300")
        procs = [pool.start() for _ in range(3)]
        wait_for(lambda: _idle_workers(env) == 3, 180, 0.2, "three idle workers")

        # 1. shared without double work
        first = _media(tmp_path / "m1", 12, seed=100)
        ids = [env.upload(p).json()["id"] for p in first]
        wait_for(lambda: _scan_status(env)["done"] == len(ids), 240, 0.2, "the first batch")
        jobs = _jobs(env)
        starts = Counter(j["ref"] for j in jobs for h in j["history"] if h["outcome"] == "started")
        assert all(starts[i] == 1 for i in ids), starts  # every job leased once
        owners = Counter(h["owner"] for j in jobs for h in j["history"] if h["outcome"] == "done")
        assert len(owners) >= 2, owners  # the processes shared the queue

        # 2. kill -9 the worker holding a job: the job is taken over once its lease runs out
        sid = _submit_url(env, kill_me.url)
        wait_for(lambda: kill_me.hits == 1, 120, 0.05, "a worker to fetch the held URL")
        owner = _job(env, sid)["lease_owner"]
        victim = next(p for p in procs if f"-{p.pid}-" in owner)
        victim.send_signal(signal.SIGKILL)
        victim.wait(10)
        survivors = [p for p in procs if p is not victim]
        assert _job(env, sid)["status"] == "running"  # nothing finished it
        kill_me.release()
        wait_for(lambda: _job(env, sid)["status"] == "done", 180, 0.2, "the killed worker's job to be taken over")
        taken = _job(env, sid)
        assert _outcomes(taken) == ["started", "lease_expired", "started", "done"], taken["history"]
        assert taken["history"][0]["owner"] == owner != taken["history"][-1]["owner"]

        # 3. the database server restarts while a worker holds a job and the other works on a queue
        more = _media(tmp_path / "m2", 12, seed=200)
        bid = _submit_url(env, in_hand.url)
        wait_for(lambda: in_hand.hits == 1, 120, 0.05, "a worker to fetch the held URL")
        more_ids = [bid, *(env.upload(p).json()["id"] for p in more[:6])]
        pg_server.stop("fast")
        time.sleep(2.0)
        pg_server.start()
        in_hand.release()
        env.core.db.engine.dispose()  # the test's own API drops its dead connections (workers do it themselves)
        more_ids += [env.upload(p).json()["id"] for p in more[6:]]
        every = [*ids, sid, *more_ids]
        wait_for(lambda: _scan_status(env)["done"] == len(every), 300, 0.5, "every scan after the restart")
        assert all(p.poll() is None for p in survivors), pool.log()  # they lived through it
        for log in (pool.logs[i] for i, p in enumerate(procs) if p is not victim):
            text = log.read_text("utf-8", "replace")
            assert "heartbeat failed" in text, text[-3000:]  # each saw the database go ...
        assert "Exception in thread" not in pool.log(tail=None), pool.log()  # ... and no thread died of it
        jobs_by_ref = {j["ref"]: j for j in _jobs(env)}
        completed = _completed_events(env)
        assert sorted(completed) == sorted(every) and set(completed.values()) == {1}  # each exactly once
        for ref in every:
            assert _outcomes(jobs_by_ref[ref]).count("done") == 1, (ref, jobs_by_ref[ref]["history"])

        # 4. drain: SIGTERM with a job in hand; no new job is taken, the one in hand is finished
        lid = _submit_url(env, last.url)
        wait_for(lambda: last.hits == 1, 120, 0.05, "a worker to fetch the held URL")
        kids = {p.pid: children_of(p.pid) for p in survivors}
        for p in survivors:
            p.send_signal(signal.SIGTERM)

        def stopping() -> bool:
            with env.core.db.read() as conn:
                states = {w.pid: w.state for w in env.core.stores.workers.list(conn)}
            return all(states.get(p.pid) in ("stopping", "stopped") for p in survivors)

        wait_for(stopping, 120, 0.2, "the workers to take the signal")
        late_id = env.upload(_media(tmp_path / "m3", 1, seed=300)[0]).json()["id"]
        last.release()
        for p in survivors:
            assert p.wait(120) == 0, pool.log()
        for pids in kids.values():
            for pid in pids:
                assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().split(")")[1][:3]
        final = _job(env, lid)
        assert final["status"] == "done" and _outcomes(final) == ["started", "done"], final  # finished, not dropped
        untouched = _job(env, late_id)
        assert untouched["status"] == "queued" and untouched["attempts"] == 0, untouched  # nobody took new work
        with env.core.db.read() as conn:
            states = {w.pid: w.state for w in env.core.stores.workers.list(conn)}
        assert all(states[p.pid] == "stopped" for p in survivors), states
    finally:
        for held in (kill_me, in_hand, last):
            held.release()
        env.client.close()
        env.core.db.dispose()
