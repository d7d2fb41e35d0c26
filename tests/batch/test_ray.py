"""``synthwatch batch --engine ray`` on a private Ray instance with real models, and on a real
two-node Ray cluster on 127.0.0.1 (started and stopped by the fixture): the same answers as
``batch --engine local`` and ``scan --jsonl``, each actor on its own node, resuming.

The real-model test comes first: the cluster is started for the last test and stopped right after
it, so it never sits idle beside another Ray instance."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
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


@pytest.mark.slow
@pytest.mark.timeout(1200)
def test_real_models_same_on_a_private_ray_instance(model_store, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """The default detectors with their real models (those installed here; the debug detectors when
    none is): ``scan --jsonl`` (ONNX Runtime on every core) and ``batch --engine ray`` without an
    address -- a private Ray instance the command starts on 127.0.0.1 and stops, one core per actor
    -- give the same scores, and the instance leaves no process behind. The local engine runs the
    same item scanner as the actors; its equality with Ray is shown above, and here when Ray is not
    installed."""
    from synthwatch.detectors.registry import default_registry
    from synthwatch.testing import samples

    reg = default_registry()
    names = [n for n in reg.default_names() if not reg.missing_models(n, model_store)] or DEBUG
    src = tmp_path / "in"
    files = [samples.make_image(src / "p.jpg", size=(160, 120), seed=31),
             samples.make_speech(src / "s.wav", seconds=4.0, seed=32),
             samples.make_video(src / "v.mp4", seconds=2.0, size=(160, 120), fps=10, seed=33)]
    homes = {}
    for name in ("scan", "batch"):  # one each: the two commands run at the same time
        homes[name] = tmp_path / f"home-{name}"
        homes[name].mkdir()
        (homes[name] / "models").symlink_to(Path(model_store.root).resolve(), target_is_directory=True)
    arg = ",".join(names)
    on_ray = _ray_installed()
    out = tmp_path / "out"
    args = ["batch", str(src), "--out", str(out), "--detectors", arg, "--json"]
    if on_ray:
        args += ["--engine", "ray", "--actors", "1"]
    env = {"RAY_ADDRESS": "", "RAY_AUTH_MODE": "disabled"}
    # the batch run (Ray's start-up is mostly waiting) and the reference scan, side by side
    with ThreadPoolExecutor(1) as pool:
        running = pool.submit(cli, *args, home=homes["batch"], env=env, new_session=on_ray)
        scan = scan_jsonl_scores(files, homes["scan"], arg)
        res = running.result()
    assert set(scan) == {str(p) for p in files}
    assert any(v is not None for s in scan.values() for k, v in s.items() if k != "verdict")
    assert res.returncode in (0, 1), res.stderr.decode("utf-8", "replace")[-4000:]
    doc = json.loads(res.stdout)
    assert doc["scanned"] == len(files)
    assert batch_scores(out) == scan  # identical, not close
    if on_ray:
        assert doc["engine_info"]["address"] == "local"
        # the run had a session of its own: every process it started (GCS, raylet, workers) is gone
        assert no_leftovers(res.pid) == []  # type: ignore[attr-defined]


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
