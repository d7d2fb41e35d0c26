"""The streaming voice activity (synthwatch.stream.activity) decides exactly as the VAD on each
window whole: the same probabilities, ratios, speech decisions, scores and alerts, however the
windows' audio arrives and whatever company their rows keep."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from synthwatch.detectors.audio.vad import SileroVAD
from synthwatch.models.store import ModelStore
from synthwatch.stream import Monitor
from synthwatch.stream.activity import CHUNK, Row, WindowVAD

from .conftest import SR, Recorder, fake_voice, music, speech


def _waves() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    quiet_then_speech = np.concatenate([np.zeros(SR, np.float32), speech(3.0, seed=3)])
    return [speech(4.0, seed=1),                      # a whole window (125 chunks)
            speech(2.0, seed=2),                      # a first window: 62.5 chunks, the last one padded
            quiet_then_speech[:40_001],               # a stream's tail: an odd length
            music(4.0),                               # audible, not speech
            (0.05 * rng.standard_normal(SR * 3)).astype(np.float32)]


def test_rows_run_in_pieces_and_in_company_give_the_whole_window_probabilities(vad_store: ModelStore) -> None:
    vad = SileroVAD(vad_store).load()
    waves = _waves()
    wv = WindowVAD(vad)
    rows = [Row(0) for _ in waves]
    rng = np.random.default_rng(7)
    done = [0] * len(waves)
    for _ in range(6):  # the audio of all windows arrives in irregular pieces, rows advanced together
        work = []
        for k, x in enumerate(waves):
            whole = x.size // CHUNK - done[k]
            n = int(rng.integers(0, whole + 1)) if whole > 0 else 0
            if n:
                work.append((rows[k], rows[k].done, x[done[k] * CHUNK:(done[k] + n) * CHUNK]))
                done[k] += n
        wv.advance(work)
    stale = (rows[0], 0, waves[0][:CHUNK])  # read before the row moved on: left alone
    if rows[0].done:
        before = (rows[0].done, rows[0].speech)
        wv.advance([stale])
        assert (rows[0].done, rows[0].speech) == before
    assert wv.ahead_chunks > 0
    ratios = wv.finish(rows, waves)
    assert ratios == vad.speech_ratios(waves)  # exactly: the same probabilities, counted the same way
    assert all(r.final for r in rows)
    assert wv.finish([None, None], waves[:2]) == vad.speech_ratios(waves[:2])  # no row: from scratch
    assert ratios[0] > 0.5 and ratios[3] < 0.15  # speech is speech, music is not


def test_advance_matches_speech_prob_row_by_row(vad_store: ModelStore) -> None:
    vad = SileroVAD(vad_store).load()
    waves = [speech(1.0, seed=4)[:20 * CHUNK], music(1.0)[:12 * CHUNK], speech(1.0, seed=6)[:5 * CHUNK]]
    state, context = SileroVAD.initial_state(len(waves))
    data = np.zeros((3, 20 * CHUNK), np.float32)
    for k, x in enumerate(waves):
        data[k, :x.size] = x
    probs = vad.advance(data, [20, 12, 5], state, context)
    for k, x in enumerate(waves):
        assert np.array_equal(probs[k, :x.size // CHUNK], vad.speech_prob(x))
    # the same waveforms run on in two calls (state and context kept), the rows ordered anew
    state, context = SileroVAD.initial_state(3)
    first = vad.advance(data[:, :5 * CHUNK], [5, 5, 5], state, context)
    order = [0, 1]  # the third row is done
    rest = vad.advance(np.ascontiguousarray(data[order, 5 * CHUNK:]), [15, 7], np.ascontiguousarray(state[:, order]),
                       np.ascontiguousarray(context[order]))
    assert np.array_equal(first[2], probs[2, :5])
    assert np.array_equal(np.concatenate([first[0], rest[0]]), probs[0])
    assert np.array_equal(np.concatenate([first[1], rest[1, :7]]), probs[1, :12])
    with pytest.raises(ValueError):
        vad.advance(data, [5, 12, 20], *SileroVAD.initial_state(3))


def _streams() -> dict[str, np.ndarray]:
    return {
        "alice": speech(11.3, seed=11),
        "mallory": np.concatenate([speech(4.0, seed=12), fake_voice(7.0, seed=13)]),
        "late": np.concatenate([np.zeros(5 * SR, np.float32), speech(4.7, seed=14)]),  # silent first, then speech
        "band": music(9.0),
        "muted": np.zeros(7 * SR, np.float32),
    }


def _run(mon: Monitor, manual: bool) -> dict[str, Recorder]:
    recs = {name: Recorder() for name in _streams()}
    speakers = {name: mon.open("room", name, recs[name], scores=True) for name in recs}
    streams = _streams()
    step = int(0.25 * SR)
    longest = max(x.size for x in streams.values())
    for i in range(0, longest, step):
        for name, x in streams.items():
            if i < x.size:
                speakers[name].feed(x[i:i + step])
        if manual and mon.window_vad is not None:  # the VAD thread's step, made here
            with mon._cond:
                work = mon._vad_work()
            mon.window_vad.advance(work)
    for sp in speakers.values():
        sp.close()
    for sp in speakers.values():
        assert sp.wait(60)
    return recs


def _decisions(rec: Recorder) -> list[tuple]:
    out = []
    for e in rec.events:
        if e["event"] == "score":
            out.append(("score", e["t_start"], e["t_end"], e["speech"], e["speech_ratio"], e["score"], e["evidence"],
                        e["state"]))
        elif e["event"] in ("alert", "alert_cleared"):
            out.append((e["event"], e["t_start"], e["t_end"], e.get("score"), e.get("peak_score")))
    return out


@pytest.mark.parametrize("manual", [True, False], ids=["stepped", "thread"])
def test_the_monitor_decides_the_same_with_and_without_streaming_vad(make_monitor: Callable[..., Monitor],
                                                                     manual: bool) -> None:
    plain = make_monitor(streaming_vad=False)
    streaming = make_monitor(streaming_vad=True, vad_tick_s=3600.0 if manual else 0.01)
    assert plain.window_vad is None and streaming.window_vad is not None
    want = {n: _decisions(r) for n, r in _run(plain, manual).items()}
    got = {n: _decisions(r) for n, r in _run(streaming, manual).items()}
    assert got == want
    # what the comparison covers: speech and non-speech windows, a tail, an alert
    flat = [d for ds in want.values() for d in ds]
    assert any(d[0] == "score" and d[3] for d in flat) and any(d[0] == "score" and not d[3] for d in flat)
    assert any(d[0] == "alert" for d in want["mallory"])
    assert all(not d[3] for d in want["muted"] if d[0] == "score")
    if manual:
        assert streaming.window_vad.ahead_chunks > 0  # rows were run on before their windows were due


def test_voice_features_are_the_same_bits_with_one_blas_thread() -> None:
    from threadpoolctl import threadpool_limits

    from synthwatch.detectors.audio.sw_voice import voice_features

    xs = [speech(4.0, seed=s) for s in (21, 22)] + [fake_voice(4.0, seed=23), music(4.0)]
    with threadpool_limits(limits=1, user_api="blas"):
        one = [voice_features(x) for x in xs]
    with threadpool_limits(limits=4, user_api="blas"):
        several = [voice_features(x) for x in xs]
    assert all(np.array_equal(a, b) for a, b in zip(one, several, strict=True))


def test_the_blas_limit_holds_while_monitors_run_and_is_given_back(make_monitor: Callable[..., Monitor]) -> None:
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas() -> list[int]:
        return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]

    with threadpool_limits(limits=3, user_api="blas"):
        if not blas():
            pytest.skip("numpy here has no BLAS threadpoolctl can see")
        a = make_monitor()
        b = make_monitor()
        assert blas() and all(n == 1 for n in blas())
        a.stop()
        assert all(n == 1 for n in blas())  # b still runs
        b.stop()
        assert all(n == 3 for n in blas())
        c = make_monitor(blas_threads=None)  # leave them
        assert all(n == 3 for n in blas())
        c.stop()
