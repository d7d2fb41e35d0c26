"""Service test fixtures: a migrated database (SQLite, or a fresh PostgreSQL database per test when
``SYNTHWATCH_TEST_POSTGRES_URL`` is set), the app behind a TestClient, tenants and keys, an
in-process worker (the API never scans; tests run the worker function in the test process or as
real ``synthwatch worker`` processes), and loopback HTTP servers for URL fetches and webhooks."""

from __future__ import annotations

import http.server
import os
import secrets
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from synthwatch.config import get_settings
from synthwatch.testing import samples

DEBUG_DETECTORS = ["debug-image", "debug-face", "debug-voice"]
PG_ENV = "SYNTHWATCH_TEST_POSTGRES_URL"


def _pg_admin_url() -> str | None:
    return os.environ.get(PG_ENV) or None


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A fresh, empty PostgreSQL database for one test (dropped afterwards)."""
    admin = _pg_admin_url()
    if not admin:
        pytest.skip(f"{PG_ENV} is not set (postgresql+psycopg://user@127.0.0.1:PORT/postgres); "
                    ".ci/run starts a server and sets it")
    import sqlalchemy as sa

    name = f"sw_test_{secrets.token_hex(6)}"
    engine = sa.create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(admin).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with engine.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        engine.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db.sqlite'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'db.sqlite'}"


# ------------------------------------------------------------------------------------------ media
@pytest.fixture(scope="session")
def svc_media(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("svc-media")
    return {
        "image": samples.make_image(d / "face.jpg", size=(160, 120), seed=11),
        "image2": samples.make_image(d / "other.png", size=(160, 120), seed=12),
        "audio": samples.make_speech(d / "speech.wav", seconds=2.0, seed=13),
        "video": samples.make_video(d / "clip.mp4", seconds=2.0, size=(160, 120), fps=10, seed=14),
    }


# ------------------------------------------------------------------------------------------ the service
@dataclass
class Env:
    home: Path
    settings: Any
    core: Any
    app: Any
    client: Any
    keys: dict[tuple[str, str], str] = field(default_factory=dict)
    _worker: Any = None

    def key(self, role: str, tenant: str = "acme") -> str:
        if (tenant, role) not in self.keys:
            try:
                t = self.core.tenant_by_name(tenant)
            except Exception:  # noqa: BLE001
                t = self.core.create_tenant(tenant)
            self.keys[(tenant, role)] = self.core.create_key(t, role, f"test {role}")[1]
        return self.keys[(tenant, role)]

    def auth(self, role: str = "uploader", tenant: str = "acme") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key(role, tenant)}"}

    @property
    def worker(self) -> Any:
        if self._worker is None:
            from synthwatch.service.jobs.worker import Worker

            self._worker = Worker(core=self.core, worker_id="test-worker", webhooks=False)
        return self._worker

    def drain(self, limit: int = 50) -> int:
        """Run queued jobs in this process until none is ready; returns how many ran."""
        n = 0
        while n < limit and self.worker.run_once():
            n += 1
        return n

    def upload(self, path: Path, role: str = "uploader", tenant: str = "acme", **fields: Any) -> Any:
        headers = self.auth(role, tenant)
        if "idempotency_key" in fields:
            headers["Idempotency-Key"] = fields.pop("idempotency_key")
        data = {k: str(v).lower() if isinstance(v, bool) else str(v) for k, v in fields.items()}
        with open(path, "rb") as fh:
            return self.client.post("/v1/scans", files={"file": (path.name, fh)}, data=data, headers=headers)


def make_env(tmp_path: Path, db_url: str, **opts: Any) -> Env:
    from fastapi.testclient import TestClient

    from synthwatch.service.app import create_app
    from synthwatch.service.db import Database
    from synthwatch.service.settings import ServiceOptions, ServiceSettings

    home = tmp_path / "home"
    options = {"lease_s": 2.0, "fetch_allow": ["127.0.0.1/32"], "webhook_backoff_base_s": 0.05,
               "webhook_backoff_max_s": 0.2, "webhook_max_attempts": 3, "retry_delay_s": 0.0,
               "poll_interval_s": 0.05, "webhook_poll_interval_s": 0.05, **opts}
    settings = ServiceSettings(home=home, database_url=db_url, service=ServiceOptions(**options))
    migrator = Database(db_url)
    migrator.upgrade()
    migrator.dispose()
    core_settings = get_settings(home=home, detectors=DEBUG_DETECTORS)
    app = create_app(settings, core_settings=core_settings)
    client = TestClient(app, raise_server_exceptions=False)
    return Env(home=home, settings=settings, core=app.state.core, app=app, client=client)


@pytest.fixture
def env(tmp_path: Path, sqlite_url: str) -> Iterator[Env]:
    e = make_env(tmp_path, sqlite_url)
    yield e
    e.client.close()
    e.core.db.dispose()


@pytest.fixture
def env_factory(tmp_path: Path) -> Iterator[Callable[..., Env]]:
    made: list[Env] = []

    def factory(db_url: str | None = None, **opts: Any) -> Env:
        e = make_env(tmp_path / f"e{len(made)}", db_url or f"sqlite:///{tmp_path / f'db{len(made)}.sqlite'}", **opts)
        made.append(e)
        return e

    yield factory
    for e in made:
        e.client.close()
        e.core.db.dispose()


def wait_for(cond: Callable[[], Any], timeout: float = 30.0, every: float = 0.05, what: str = "condition") -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


# ------------------------------------------------------------------------------------------ loopback servers
@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1; ``routes`` maps a path to a handler(request) ->
    (status, headers, body). Every request is recorded."""

    def __init__(self) -> None:
        self.routes: dict[str, Callable[[Received], tuple[int, dict[str, str], bytes]]] = {}
        self.received: list[Received] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                req = Received(self.command, self.path, {k.lower(): v for k, v in self.headers.items()}, body)
                outer.received.append(req)
                route = outer.routes.get(self.path.split("?", 1)[0])
                status, headers, payload = route(req) if route else (404, {}, b"not found")
                try:
                    self.send_response(status)
                    for k, v in headers.items():
                        self.send_header(k, v)
                    if "Content-Length" not in headers:
                        self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_GET = _handle
            do_POST = _handle

            def log_message(self, *args: Any) -> None:
                return None

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def http_server() -> Iterator[LoopbackServer]:
    s = LoopbackServer()
    yield s
    s.close()


# ------------------------------------------------------------------------------------------ processes
def cli_env(home: Path, db_url: str, **service: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYNTHWATCH_")}
    env.update({"SYNTHWATCH_HOME": str(home), "SYNTHWATCH_DATABASE_URL": db_url,
                "SYNTHWATCH_DETECTORS": '["debug-image","debug-face","debug-voice"]',
                "SYNTHWATCH_LOG_LEVEL": "WARNING"})
    env.update({f"SYNTHWATCH_SERVICE__{k.upper()}": v for k, v in service.items()})
    return env


def synthwatch_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "synthwatch.cli", *args]


def children_of(pid: int) -> list[int]:
    """Live child processes of ``pid`` (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            out.append(int(entry.name))
    return out


def stop_process(proc: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
