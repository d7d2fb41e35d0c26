"""ONNX Runtime writes nothing outside where the user said: its telemetry is off before it is imported."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from synthwatch.models import runtime

MODEL = Path(runtime.__file__).parent / "weights" / "sw-image" / "sw_image_head.onnx"


def test_a_session_leaves_no_telemetry_files(tmp_path: Path) -> None:
    home, tmp = tmp_path / "home", tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {k: v for k, v in os.environ.items() if k != runtime.TELEMETRY_ENV}
    env.update(HOME=str(home), TMPDIR=str(tmp), XDG_CACHE_HOME=str(home / ".cache"))
    code = ("from synthwatch.models.runtime import create_session\n"
            f"s = create_session(open({str(MODEL)!r}, 'rb').read())\n"
            "print(type(s).__name__)\n")
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "InferenceSession"
    assert list(tmp.iterdir()) == []  # no .ses session file
    assert list(home.rglob("*")) == []  # no ~/.cache/Microsoft/DeveloperTools/.onnxruntime store


def test_the_import_sets_the_switch_first(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv(runtime.TELEMETRY_ENV, raising=False)
    ort = runtime.import_onnxruntime()
    assert os.environ[runtime.TELEMETRY_ENV] == "1" and hasattr(ort, "InferenceSession")
