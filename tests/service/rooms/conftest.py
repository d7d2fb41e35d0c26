"""Fixtures and helpers of the live-room service tests: an API with live rooms (its voice-activity
model from the session's model store), streaming helpers for the TestClient, and the app on a real
uvicorn server on 127.0.0.1 with a real WebSocket client."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.websockets import WebSocketDisconnect

from stream.conftest import SR
from synthwatch.models.store import ModelStore
from synthwatch.service.rooms.settings import RoomOptions

from ..conftest import Env, make_env, wait_for

START = {"event": "start", "encoding": "pcm_s16le", "sample_rate": 16000, "channels": 1}


@pytest.fixture
def rooms(tmp_path: Path, model_store: ModelStore) -> Iterator[Callable[..., Env]]:
    """An API with live rooms; its models (Silero VAD) come from the session's model store."""
    if not model_store.is_installed("silero-vad"):
        pytest.skip("silero-vad could not be installed here (synthwatch models setup installs it from its wheel)")
    made: list[Env] = []

    def factory(db_url: str | None = None, **opts: Any) -> Env:
        base = tmp_path / f"r{len(made)}"
        (base / "home").mkdir(parents=True)
        (base / "home" / "models").symlink_to(model_store.root, target_is_directory=True)
        env = make_env(base, db_url or f"sqlite:///{base / 'db.sqlite'}")
        env.app.state.rooms.opts = RoomOptions(**opts)
        made.append(env)
        return env

    yield factory
    for env in made:
        asyncio.run(env.app.state.rooms.shutdown())
        env.client.close()
        env.core.db.dispose()


def pcm(x: np.ndarray) -> bytes:
    return (np.clip(x, -1, 1) * 32767).astype("<i2").tobytes()


def frames(x: np.ndarray, ms: int = 100) -> list[bytes]:
    data = pcm(x)
    step = SR * ms // 1000 * 2
    return [data[i:i + step] for i in range(0, len(data), step)]


def until_closed(ws: Any, timeout: float = 30.0) -> tuple[list[dict[str, Any]], int, str]:
    """Every event until the server closes: (events, close code, reason)."""
    events: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            events.append(ws.receive_json())
        except WebSocketDisconnect as exc:
            return events, exc.code, exc.reason
    raise AssertionError(f"the server did not close within {timeout} s; got {events}")


def stream(env: Env, room: str, participant: str, x: np.ndarray, *, start: dict[str, Any] | None = None,
           headers: dict[str, str] | None = None, stop: bool = True) -> tuple[list[dict[str, Any]], int, str]:
    url = f"/v1/rooms/{room}/live?participant={participant}"
    with env.client.websocket_connect(url, headers=env.auth("ingest") if headers is None else headers) as ws:
        ws.send_text(json.dumps(start or START))
        for f in frames(x):
            ws.send_bytes(f)
        if stop:
            ws.send_text('{"event": "stop"}')
        return until_closed(ws)


def settle(env: Env, timeout: float = 30.0) -> None:
    """Wait until no stream is live and every alert (and its picture) is handled."""
    hub = env.app.state.rooms
    wait_for(lambda: not hub.all_streams() and not hub.tasks and not (hub.loaded_monitor and len(hub.loaded_monitor)),
             timeout, what="streams to end")
    for pool in (hub.alert_pool, hub.picture_pool, hub.db_pool):
        pool.submit(lambda: None).result(timeout)


class LiveServer:
    """The app on a real uvicorn server on 127.0.0.1 (its own thread and event loop), as
    ``synthwatch serve`` runs it: real WebSocket connections, real disconnects."""

    def __init__(self, env: Env) -> None:
        import socket

        import uvicorn

        self.env = env
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        sock.close()
        config = uvicorn.Config(env.app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="on",
                                ws_ping_interval=None)
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, name="uvicorn-test", daemon=True)
        self.thread.start()
        wait_for(lambda: self.server.started, 30, what="uvicorn to start")

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(30)


@pytest.fixture
def live_server(rooms: Callable[..., Env]) -> Iterator[Callable[..., LiveServer]]:
    servers: list[LiveServer] = []

    def start(**opts: Any) -> LiveServer:
        srv = LiveServer(rooms(**opts))
        servers.append(srv)
        return srv

    yield start
    for srv in servers:
        srv.stop()


async def ws_client(url: str, key: str, audio: np.ndarray, *, ending: str, frame_ms: int = 100) -> list[dict[str, Any]]:
    """A real WebSocket client that sends ``audio`` then ends: ``stop``, ``close`` (a close frame
    without stop), ``drop`` (the TCP connection cut, no close frame) or ``violate``."""
    from websockets.asyncio.client import connect
    from websockets.exceptions import ConnectionClosed

    got: list[dict[str, Any]] = []
    async with connect(url, additional_headers={"Authorization": f"Bearer {key}"}, compression=None,
                       proxy=None) as ws:
        await ws.send(json.dumps(START))
        got.append(json.loads(await ws.recv()))
        for f in frames(audio, ms=frame_ms):
            await ws.send(f)
        if ending == "stop":
            await ws.send('{"event": "stop"}')
        elif ending == "violate":
            await ws.send(b"\x00")
        elif ending == "close":
            await ws.close(1001)
            return got
        elif ending == "drop":
            await asyncio.sleep(0.2)  # the frames reach the server
            ws.transport.abort()
            return got
        try:
            async for message in ws:
                got.append(json.loads(message))
        except ConnectionClosed as exc:  # an error close code
            got.append({"event": "closed", "code": exc.rcvd.code if exc.rcvd else None})
    return got


