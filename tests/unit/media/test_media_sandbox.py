"""The worker pool: reuse, recovery, isolation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from synthwatch.config import Limits
from synthwatch.errors import CorruptMedia
from synthwatch.media import iter_audio, iter_frames, load_image, probe, sandbox


def test_workers_are_reused(sample_png: Path) -> None:
    sandbox.warm_up(1)
    load_image(sample_png)
    first = set(sandbox.worker_pids())
    for _ in range(3):
        load_image(sample_png)
    assert set(sandbox.worker_pids()) == first
    assert os.getpid() not in first


def test_two_streams_at_once(sample_video: Path) -> None:
    frames = iter_frames(sample_video, fps=1.0)
    windows = iter_audio(sample_video)
    pairs = list(zip(frames, windows, strict=False))  # interleaved: two workers side by side
    assert [round(f.t_s) for f, _ in pairs] == [0, 1]
    assert len(sandbox.worker_pids()) >= 2


def test_worker_does_not_import_the_application() -> None:
    # the worker runs _worker.py as a script: the synthwatch package (and the caller's
    # __main__) stay out of the decoder process; only the standard library, NumPy, PyAV, Pillow
    source = Path(sandbox.__file__).with_name("_worker.py").read_text()
    assert "import synthwatch" not in source and "from synthwatch" not in source
    assert sandbox.worker_vm_mb() > 0


def test_a_failure_does_not_poison_the_next_call(tmp_path: Path, sample_png: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(sample_png.read_bytes()[:200])
    for _ in range(3):
        with pytest.raises(CorruptMedia):
            load_image(bad)
        assert load_image(sample_png).shape == (240, 320, 3)


def test_limits_travel_per_call(sample_png: Path) -> None:
    assert probe(sample_png, Limits(max_pixels=320 * 240)).width == 320
    with pytest.raises(Exception) as err:
        probe(sample_png, Limits(max_pixels=320 * 240 - 1))
    assert type(err.value).__name__ == "MediaTooLarge"
    assert probe(sample_png).height == 240


def test_shutdown_and_restart(sample_png: Path) -> None:
    sandbox.shutdown()
    assert not sandbox.worker_pids() or load_image(sample_png).shape == (240, 320, 3)
    assert load_image(sample_png).shape == (240, 320, 3)


def test_threads_share_the_pool(sample_png: Path, sample_video: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    def work(i: int) -> tuple[int, ...]:
        if i % 2:
            return load_image(sample_png).shape
        return (len(list(iter_frames(sample_video, fps=1.0))),)

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(work, range(8)))
    assert results == [(5,), (240, 320, 3)] * 4
    assert len(sandbox.worker_pids()) <= sandbox.MAX_IDLE + 4


def test_parent_only_unpickles_plain_values_and_arrays() -> None:
    import pickle

    import numpy as np

    from synthwatch.media._worker import safe_loads

    arr = np.arange(12, dtype=np.float32).reshape(3, 4)
    value = safe_loads(pickle.dumps(("item", (1.5, arr, np.float32(2.0), {"a": [1, None]})), protocol=5))
    assert np.array_equal(value[1][1], arr)
    for evil in (os.system, print, Path("/etc/passwd")):
        with pytest.raises(pickle.UnpicklingError):
            safe_loads(pickle.dumps(evil))
