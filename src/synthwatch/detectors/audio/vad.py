"""Voice activity detection with Silero VAD (silero-vad 6.2.3's ``silero_vad.onnx``, MIT).

Not a registered detector (it says where speech is, not whether it is synthetic): the pipeline uses
it to skip windows without speech before running the voice anti-spoofing detectors, and to report
``not_applicable: no speech``.

The model is run the way silero-vad's own ``OnnxWrapper`` runs it: the waveform is cut into
consecutive 512-sample chunks at 16 kHz (256 at 8 kHz; the last chunk zero-padded), each chunk is
prefixed with the last 64 samples (32 at 8 kHz) of the previous model input (zeros for the first
chunk), and the recurrent ``state`` [2, 1, 128] is carried from chunk to chunk. One speech
probability per chunk (32 ms). Several waveforms of one length run together as one batch
(:meth:`SileroVAD.speech_ratios`: each row keeps its own context and state, so the probabilities
are exactly those of one waveform at a time, for about a third of the CPU time: the per-chunk call
overhead is paid once per batch). :meth:`SileroVAD.advance` runs many waveforms on chunk by
chunk from where each one stopped (the live-room monitor runs each open window as its audio
arrives, all speakers' windows in one batch). :meth:`SileroVAD.speech_spans` groups them with the same hysteresis
as silero-vad's ``get_speech_timestamps`` (speech starts at ``p >= threshold`` and ends after
``min_silence_s`` below ``threshold - 0.15``), then drops spans shorter than ``min_speech_s`` and
pads the rest by ``pad_s``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

import numpy as np

from ...errors import DetectorError, ModelLoadError
from ...models.runtime import session_from_store
from ...models.store import ModelStore

__all__ = ["MODEL", "SileroVAD", "spans_from_probs"]

MODEL = "silero-vad"
_CHUNK = {16_000: 512, 8_000: 256}
_CONTEXT = {16_000: 64, 8_000: 32}
_STATE_SHAPE = (2, 1, 128)


class SileroVAD:
    """``SileroVAD(store).load()``, then :meth:`speech_prob`, :meth:`speech_ratio`,
    :meth:`speech_spans`. Thread-safe after ``load`` (every call keeps its own recurrent state)."""

    def __init__(self, store: ModelStore, *, threads: int = 1) -> None:
        self.store = store
        self._threads = int(threads)
        self._session: Any = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._session is not None

    def load(self) -> SileroVAD:
        """Load ``silero-vad`` from the store (sha256-checked). Idempotent; returns ``self``.

        Raises :class:`~synthwatch.errors.ModelNotInstalled` (with the install command) when the
        model is missing.
        """
        with self._lock:
            if self._session is None:
                sess = session_from_store(self.store, MODEL, threads=self._threads)
                names = {i.name for i in sess.get_inputs()}
                outs = [o.name for o in sess.get_outputs()]
                if names != {"input", "state", "sr"} or len(outs) != 2:
                    raise ModelLoadError(
                        f"model {MODEL!r} has inputs {sorted(names)} and outputs {outs}; expected "
                        f"input/state/sr -> output/stateN (silero-vad v5/v6)")
                self._session = sess
        return self

    # ------------------------------------------------------------------ probabilities
    @staticmethod
    def _as_waveform(waveform: np.ndarray) -> np.ndarray:
        x = np.asarray(waveform)
        if x.ndim != 1:
            raise DetectorError(f"expected a mono waveform (1-D), got shape {x.shape}")
        if np.issubdtype(x.dtype, np.integer):  # PCM integers -> [-1, 1]
            x = x.astype(np.float32) / float(np.iinfo(x.dtype).max)
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise DetectorError("the waveform holds NaN or infinite samples")
        return x

    @staticmethod
    def chunk_seconds(sample_rate: int = 16_000) -> float:
        """Duration of the span one probability covers (0.032 s at 16 kHz and 8 kHz)."""
        if sample_rate not in _CHUNK:
            raise DetectorError(f"Silero VAD runs at 16000 or 8000 Hz, not {sample_rate}")
        return _CHUNK[sample_rate] / sample_rate

    def speech_prob(self, waveform: np.ndarray, sample_rate: int = 16_000) -> np.ndarray:
        """Speech probability per consecutive 32 ms chunk: float32 ``[ceil(len / 512)]`` at 16 kHz."""
        return self._probs(self._as_waveform(waveform)[None, :], sample_rate)[0]

    def _probs(self, batch: np.ndarray, sample_rate: int) -> np.ndarray:
        """Probabilities ``[B, n_chunks]`` of ``B`` waveforms of one length (rows are independent)."""
        if self._session is None:
            raise DetectorError("SileroVAD: call load() first")
        self.chunk_seconds(sample_rate)  # validates the rate
        chunk = _CHUNK[sample_rate]
        rows, length = batch.shape
        n_chunks = -(-length // chunk)
        if n_chunks == 0:
            return np.zeros((rows, 0), dtype=np.float32)
        padded = np.zeros((rows, n_chunks * chunk), dtype=np.float32)
        padded[:, :length] = batch
        state, context = self.initial_state(rows, sample_rate)
        return self.advance(padded, [n_chunks] * rows, state, context, sample_rate)

    @staticmethod
    def initial_state(rows: int, sample_rate: int = 16_000) -> tuple[np.ndarray, np.ndarray]:
        """The recurrent state ``float32 [2, rows, 128]`` and the context ``float32 [rows, 64]``
        (32 at 8 kHz) of ``rows`` waveforms before their first chunk (zeros)."""
        ctx = _CONTEXT.get(sample_rate)
        if ctx is None:
            raise DetectorError(f"Silero VAD runs at 16000 or 8000 Hz, not {sample_rate}")
        return (np.zeros((_STATE_SHAPE[0], rows, _STATE_SHAPE[2]), dtype=np.float32),
                np.zeros((rows, ctx), dtype=np.float32))

    def advance(self, chunks: np.ndarray, counts: Sequence[int], state: np.ndarray, context: np.ndarray,
                sample_rate: int = 16_000) -> np.ndarray:
        """Run ``B`` independent waveforms on by ``counts[r]`` whole chunks each, from where they
        are: ``chunks`` ``float32 [B, K * 512]`` holds row ``r``'s next ``counts[r]`` chunks (a last,
        shorter chunk zero-padded by the caller, as :meth:`speech_prob` pads a waveform's end);
        ``state`` ``[2, B, 128]`` and ``context`` ``[B, 64]`` (from :meth:`initial_state`, or
        from an earlier call) are updated in place. Rows must come in non-increasing ``counts``
        order. Returns the probabilities ``float32 [B, K]`` (a row's entries past its count are
        undefined).

        The waveform of one row run in one call, or on in several calls (its state and context
        kept in between), in any company of other rows, gives exactly the probabilities of
        :meth:`speech_prob` on that waveform alone: rows never mix in the model."""
        if self._session is None:
            raise DetectorError("SileroVAD: call load() first")
        chunk, ctx = _CHUNK[sample_rate], _CONTEXT[sample_rate]
        rows = chunks.shape[0]
        k_max = max(counts, default=0)
        if any(counts[i] < counts[i + 1] for i in range(rows - 1)):
            raise ValueError("rows must come in non-increasing order of counts")
        probs = np.zeros((rows, k_max), dtype=np.float32)
        if rows == 0 or k_max == 0:
            return probs
        sr = np.array(sample_rate, dtype=np.int64)
        frame = np.empty((rows, ctx + chunk), dtype=np.float32)  # [context | chunk] per row
        frame[:, :ctx] = context
        run = self._session.run
        live = rows
        try:
            for i in range(k_max):
                while counts[live - 1] <= i:  # rows whose chunks are done leave the batch (a prefix stays)
                    live -= 1
                frame[:live, ctx:] = chunks[:live, i * chunk:(i + 1) * chunk]
                st = state if live == rows else np.ascontiguousarray(state[:, :live])
                out, st = run(None, {"input": frame[:live], "state": st, "sr": sr})
                state[:, :live] = st
                probs[:live, i] = out.reshape(live, -1)[:, 0]
                frame[:live, :ctx] = frame[:live, -ctx:]  # the next chunk's context
        except Exception as exc:  # onnxruntime raises its own untyped errors
            raise DetectorError(f"Silero VAD failed: {exc}") from exc
        context[:] = frame[:, :ctx]
        return probs

    def speech_ratio(self, waveform: np.ndarray, sample_rate: int = 16_000, threshold: float = 0.5) -> float:
        """Fraction of 32 ms chunks whose speech probability is at least ``threshold`` (0.0 for an
        empty waveform)."""
        p = self.speech_prob(waveform, sample_rate)
        return float(np.mean(p >= threshold)) if p.size else 0.0

    def speech_ratios(self, waveforms: Sequence[np.ndarray], sample_rate: int = 16_000,
                      threshold: float = 0.5, *, batch: int = 64) -> list[float]:
        """:meth:`speech_ratio` of each waveform, the same numbers, computed together: waveforms of
        one length run through the model as one batch (at most ``batch`` rows a call)."""
        xs = [self._as_waveform(w) for w in waveforms]
        out = [0.0] * len(xs)
        by_length: dict[int, list[int]] = {}
        for i, x in enumerate(xs):
            by_length.setdefault(x.size, []).append(i)
        for length, idx in by_length.items():
            if length == 0:
                continue
            for k in range(0, len(idx), batch):
                part = idx[k:k + batch]
                probs = self._probs(np.stack([xs[i] for i in part]), sample_rate)
                for row, i in enumerate(part):
                    out[i] = float(np.mean(probs[row] >= threshold))
        return out

    def speech_spans(self, waveform: np.ndarray, threshold: float = 0.5, min_speech_s: float = 0.25,
                     *, sample_rate: int = 16_000, min_silence_s: float = 0.1,
                     pad_s: float = 0.03) -> list[tuple[float, float]]:
        """Speech segments as ``(start_s, end_s)`` pairs, sorted and non-overlapping."""
        if not 0.0 < threshold < 1.0:
            raise DetectorError(f"threshold must be in (0, 1), got {threshold}")
        x = self._as_waveform(waveform)
        probs = self.speech_prob(x, sample_rate)
        return spans_from_probs(probs, n_samples=x.size, sample_rate=sample_rate, threshold=threshold,
                                min_speech_s=min_speech_s, min_silence_s=min_silence_s, pad_s=pad_s)


def spans_from_probs(probs: np.ndarray, *, n_samples: int, sample_rate: int = 16_000, threshold: float = 0.5,
                     min_speech_s: float = 0.25, min_silence_s: float = 0.1,
                     pad_s: float = 0.03) -> list[tuple[float, float]]:
    """Group per-chunk speech probabilities into ``(start_s, end_s)`` spans (see the module docstring)."""
    chunk = _CHUNK.get(sample_rate)
    if chunk is None:
        raise DetectorError(f"Silero VAD runs at 16000 or 8000 Hz, not {sample_rate}")
    neg = max(threshold - 0.15, 0.01)
    min_speech = min_speech_s * sample_rate
    min_silence = min_silence_s * sample_rate
    raw: list[tuple[int, int]] = []
    triggered = False
    start = 0
    silence_from: int | None = None
    for i, p in enumerate(np.asarray(probs, dtype=np.float64)):
        cur = i * chunk
        if p >= threshold:
            silence_from = None
            if not triggered:
                triggered, start = True, cur
            continue
        if triggered and p < neg:
            if silence_from is None:
                silence_from = cur
            if cur - silence_from >= min_silence:
                if silence_from - start >= min_speech:
                    raw.append((start, silence_from))
                triggered, silence_from = False, None
    if triggered and n_samples - start >= min_speech:
        raw.append((start, n_samples))

    pad = int(round(pad_s * sample_rate))
    merged: list[list[int]] = []
    for s, e in raw:
        s, e = max(0, s - pad), min(n_samples, e + pad)
        if merged and s <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], e)
        else:
            merged.append([s, e])
    return [(s / sample_rate, e / sample_rate) for s, e in merged]
