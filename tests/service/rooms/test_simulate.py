"""``synthwatch rooms simulate``: audio files streamed as live speakers, at real-time pace, into a real
server on 127.0.0.1; every server event printed as a JSON line with ``received_at``."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from stream.conftest import SR, fake_voice, speech

from ..conftest import cli_env, synthwatch_cmd
from .conftest import LiveServer, settle


def _run(srv: LiveServer, tmp_path: Path, *args: str) -> tuple[int, list[dict[str, Any]], str]:
    env = cli_env(tmp_path / "cli-home", "sqlite:///unused.sqlite")
    proc = subprocess.run(synthwatch_cmd("rooms", "simulate", "--url", srv.ws_url, "--room", "demo", *args),
                          capture_output=True, env=env, timeout=120)
    out = proc.stdout.decode("utf-8").splitlines()
    lines = [json.loads(line) for line in out] if "--jsonl" in args else []
    return proc.returncode, lines, proc.stderr.decode("utf-8", "replace")


@pytest.mark.parametrize("twilio", [False, True])
def test_simulate_streams_speakers_and_prints_every_event(live_server: Callable[..., LiveServer], tmp_path: Path,
                                                         twilio: bool) -> None:
    srv = live_server()
    real = tmp_path / "alice.wav"
    fake = tmp_path / "mallory.flac"
    sf.write(real, speech(3.0), SR, subtype="PCM_16")
    clone = fake_voice(2.5, tone_hz=3300.0, level=0.12) if twilio else fake_voice(2.5)
    sf.write(fake, np.concatenate([np.zeros(SR // 2, np.float32), clone]), SR, subtype="PCM_16")
    args = ["--key", srv.env.key("ingest"), "--speaker", f"alice={real}", "--speaker", f"mallory={fake}",
            "--join-at", "mallory=1", "--jsonl", "--scores"] + (["--twilio"] if twilio else [])
    code, lines, err = _run(srv, tmp_path, *args)
    assert code == 1, err  # an alert: a finding
    assert all(isinstance(doc["received_at"], float | int) for doc in lines if doc["event"] != "refused")
    by = {name: [d for d in lines if d["speaker"] == name] for name in ("alice", "mallory")}
    for name, docs in by.items():
        kinds = [d["event"] for d in docs]
        assert kinds[0] == "started" and kinds[-2:] == ["stopped", "closed"], (name, kinds)
        assert docs[-1]["code"] == 1000 and docs[0]["mode"] == ("twilio" if twilio else "pcm")
    assert not [d for d in by["alice"] if d["event"] == "alert"]
    alert = next(d for d in by["mallory"] if d["event"] == "alert")
    # mallory joined 1 s after alice, was silent 0.5 s, then spoke: her first window ends 2 s into her
    # stream, and the alert arrived after that (received_at counts from her own first frame)
    assert alert["t_end"] == 2.0 and 2.0 <= alert["received_at"] < 6.0
    assert [d["event"] for d in by["mallory"]].count("score") >= 1
    settle(srv.env)


def test_simulate_exit_codes(live_server: Callable[..., LiveServer], tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from synthwatch.cli import app

    srv = live_server()
    good = tmp_path / "a.wav"
    sf.write(good, speech(1.0), SR, subtype="PCM_16")
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    # a key whose role may not stream, and a file that cannot be decoded: both reported, exit 4
    code, lines, _ = _run(srv, tmp_path, "--key", srv.env.key("reviewer"), "--speaker", f"a={good}", "--speaker",
                          f"b={broken}", "--jsonl")
    assert code == 4 and [d["speaker"] for d in lines if d["event"] == "error"] == ["b"]
    refused = next(d for d in lines if d["event"] == "refused")
    assert refused["speaker"] == "a" and refused["status"] == 403
    # human output of a stream that ends normally without an alert: exit 0
    code, _, err = _run(srv, tmp_path, "--key", srv.env.key("ingest"), "--speaker", f"a={good}")
    assert code == 0 and "streaming 1 speaker" in err
    # usage errors (in this process: nothing is streamed)
    usage = CliRunner().invoke(app, ["rooms", "simulate", "--url", srv.ws_url, "--room", "demo", "--key", "k",
                                     "--speaker", "nofile"])
    assert usage.exit_code == 2 and "NAME=VALUE" in usage.output
    settle(srv.env)
