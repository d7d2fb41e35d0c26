"""``synthwatch batch --engine ray`` on a real two-node Ray cluster on 127.0.0.1 (started and stopped
by the fixture) and on a local Ray instance: the same answers as ``batch --engine local`` and
``scan --jsonl``, each actor on its own node, resuming, real models."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from synthwatch import get_settings
from synthwatch.batch import iter_rows, read_results, run_batch

from .conftest import (
    DEBUG,
    DEBUG_ARG,
    MediaSet,
    RayCluster,
    batch_scores,
    cli,
    no_leftovers,
    scan_jsonl_scores,
)


def _ray_installed() -> bool:
    from synthwatch.batch.ray_engine import ray_available

    return ray_available()


needs_ray = pytest.mark.skipif(not _ray_installed(), reason="Ray is not installed (pip install 'synthwatch[ray]')")


@pytest.mark.ray
@pytest.mark.slow
@needs_ray
def test_two_node_cluster_gives_the_same_answers(ray_cluster: RayCluster, batch_media: MediaSet,
                                                 batch_media_scan: dict[str, dict[str, float | None]],
                                                 tmp_path: Path) -> None:
    """Every kind of item, good and bad, on both nodes: the same rows as the local engine and the
    same scores as ``scan --jsonl``; a second run on the cluster resumes (scans nothing)."""
    home = tmp_path / "home"
    files = batch_media.all
    out = tmp_path / "ray-out"
    args = ["batch", str(batch_media.folder), "--out", str(out), "--engine", "ray", "--address", ray_cluster.address,
            "--detectors", DEBUG_ARG, "--actors", "2", "--json"]
    res = cli(*args, home=home, env=ray_cluster.env)
    assert res.returncode == 5, res.stderr.decode("utf-8", "replace")[-4000:]
    summary = json.loads(res.stdout)
    assert summary["scanned"] == len(files) and summary["engine_info"]["nodes"] == 2
    assert summary["engine_info"]["cluster_cpus"] == 2.0

    rows = list(iter_rows(read_results(out)))
    assert len(rows) == len(files)
    # one actor per node (each node has one CPU, each actor takes one): both nodes scanned
    assert len({r["node"] for r in rows}) == 2 and len({r["worker"] for r in rows}) == 2
    assert all(r["engine"] == "ray" for r in rows)

    local = tmp_path / "local-out"
    run_batch([str(batch_media.folder)], local, settings=get_settings(home=home), detectors=DEBUG)
    ray_scores = batch_scores(out)
    assert set(ray_scores) == {str(p) for p in batch_media.good}
    assert ray_scores == batch_scores(local)  # identical, not close
    assert ray_scores == {k: v for k, v in batch_media_scan.items() if k in ray_scores}
    by_key = {r["key"]: r for r in rows}
    for r in iter_rows(read_results(local)):
        assert by_key[r["key"]]["error_code"] == r["error_code"]
        assert by_key[r["key"]]["sha256"] == r["sha256"] and by_key[r["key"]]["config_fp"] == r["config_fp"]

    # resume on the cluster: the rows Ray wrote are recognised, nothing is scanned again
    again = cli(*args, home=home, env=ray_cluster.env)
    doc = json.loads(again.stdout)
    assert again.returncode == 5 and (doc["scanned"], doc["skipped"]) == (0, len(files))


@pytest.mark.ray
@pytest.mark.slow
@needs_ray
def test_local_ray_instance_is_started_and_stopped(batch_media: MediaSet, tmp_path: Path) -> None:
    """No --address: the run starts its own Ray instance (loopback only) and leaves nothing behind."""
    out = tmp_path / "out"
    env = {"RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
    res = cli("batch", str(batch_media.folder), "--out", str(out), "--engine", "ray", "--detectors", DEBUG_ARG,
              "--json", home=tmp_path / "home", env=env, new_session=True)
    assert res.returncode == 5, res.stderr.decode("utf-8", "replace")[-4000:]
    doc = json.loads(res.stdout)
    assert doc["engine_info"]["address"] == "local" and doc["scanned"] == len(batch_media.all)
    # the run had a session of its own: every process it started (GCS, raylet, workers) is gone
    assert no_leftovers(res.pid) == []  # type: ignore[attr-defined]
    local = tmp_path / "local"
    run_batch([str(batch_media.folder)], local, settings=get_settings(home=tmp_path / "home"), detectors=DEBUG)
    assert batch_scores(out) == batch_scores(local)


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_real_default_detectors_same_everywhere(model_store, batch_media: MediaSet, tmp_path: Path,  # type: ignore[no-untyped-def]
                                                request: pytest.FixtureRequest) -> None:
    """The default detectors with their real models (those installed here): ``scan --jsonl`` (ONNX
    Runtime on every core) and ``batch --engine ray`` on the two-node cluster (one core per actor)
    give the same scores. The local engine runs the same item scanner as the actors; its equality
    with Ray is shown with the debug detectors above, and here when Ray is not installed."""
    from synthwatch import samples
    from synthwatch.detectors.registry import default_registry

    reg = default_registry()
    names = [n for n in reg.default_names() if not reg.missing_models(n, model_store)]
    if not names:
        pytest.skip("no default detector has its model installed here")
    src = tmp_path / "in"
    files = [samples.make_image(src / "p.jpg", size=(160, 120), seed=31),
             samples.make_speech(src / "s.wav", seconds=4.0, seed=32),
             samples.make_video(src / "v.mp4", seconds=2.0, size=(160, 120), fps=10, seed=33)]
    home = tmp_path / "home"
    home.mkdir()
    (home / "models").symlink_to(Path(model_store.root).resolve(), target_is_directory=True)
    arg = ",".join(names)
    scan = scan_jsonl_scores(files, home, arg)
    assert any(v is not None for s in scan.values() for k, v in s.items() if k != "verdict")

    if not _ray_installed():
        local = tmp_path / "local"
        res = cli("batch", str(src), "--out", str(local), "--detectors", arg, home=home)
        assert res.returncode in (0, 1), res.stderr.decode("utf-8", "replace")[-4000:]
        assert batch_scores(local) == scan
        return
    cluster: RayCluster = request.getfixturevalue("ray_cluster")
    on_ray = tmp_path / "ray"
    res = cli("batch", str(src), "--out", str(on_ray), "--engine", "ray", "--address", cluster.address,
              "--detectors", arg, "--actors", "1", home=home, env=cluster.env)
    assert res.returncode in (0, 1), res.stderr.decode("utf-8", "replace")[-4000:]
    assert batch_scores(on_ray) == scan
