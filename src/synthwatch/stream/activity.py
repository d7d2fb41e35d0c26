"""Voice activity of live windows, computed as their audio arrives, every speaker's in one batch.

The monitor's windows overlap (4 s every 2 s) and each window's speech ratio is Silero's on that
window alone: from a zero state at the window's first sample, one probability per 512-sample chunk
counted from there, the last chunk zero-padded (:meth:`SileroVAD.speech_ratios`). Silero is
recurrent, so a window's probabilities can be computed chunk by chunk as its audio comes in, the
state kept between calls; and the windows of all speakers can run on together, one model call per
chunk step for all of them (:meth:`SileroVAD.advance`; rows never mix, so the probabilities are
the same bits as one window at a time).

:class:`WindowVAD` keeps one :class:`Row` per open window (its state, its context, the chunks done,
how many of them were speech). A thread of the monitor calls :meth:`WindowVAD.advance` a few times
a second with the whole chunks that arrived; when a window is due, :meth:`WindowVAD.finish` runs
what is left of it (a few chunks, and the zero-padded last one) from the window's own samples and
gives its ratio. The work per window is the same as scoring it whole, but it is done in large
batches (about 0.1 ms per window-chunk instead of 0.3 ms for a window alone) and mostly before the
window is due, so a due window waits for little more than its voice detector.

A window's ratio does not depend on whether, when or in what company its row was advanced: a row
the thread never reached, one whose audio the ring no longer holds, or one that failed is simply
run from its start by :meth:`finish` (unit tests compare with :meth:`SileroVAD.speech_ratios`).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np

from ..detectors.audio.vad import SileroVAD
from ..errors import DetectorError

__all__ = ["Row", "WindowVAD", "CHUNK", "SPEECH_PROB"]

#: Silero's chunk at 16 kHz (the monitor's analysis rate)
CHUNK = 512
#: the probability at which a chunk counts as speech (SileroVAD.speech_ratios' default)
SPEECH_PROB = 0.5
_RATE = 16_000


class Row:
    """One window's voice activity so far: ``done`` chunks from its first sample ``start``."""

    __slots__ = ("start", "done", "speech", "state", "context", "final")

    def __init__(self, start: int) -> None:
        self.start = start
        self.final = False  # finish() used it up
        self.done = 0
        self.speech = 0
        self.state: np.ndarray | None = None  # [2, 128] once a chunk ran
        self.context: np.ndarray | None = None


class WindowVAD:
    """Batched, incremental Silero over many windows (see the module doc). Thread-safe: model calls
    and row updates are serialised by one lock."""

    def __init__(self, vad: SileroVAD) -> None:
        self.vad = vad
        self._lock = threading.Lock()
        self.calls = 0  # model calls (figures)
        self.row_chunks = 0  # row-chunks computed
        self.ahead_chunks = 0  # of them, by advance() (before their windows were due)

    def _run(self, rows: Sequence[Row], blocks: Sequence[np.ndarray]) -> None:
        """Run each row on by its block (whole chunks; lock held). Rows' states are updated."""
        order = sorted((i for i in range(len(rows)) if blocks[i].size), key=lambda i: -blocks[i].size)
        if not order:
            return
        counts = [blocks[i].size // CHUNK for i in order]
        data = np.zeros((len(order), counts[0] * CHUNK), dtype=np.float32)
        state, context = SileroVAD.initial_state(len(order), _RATE)
        for j, i in enumerate(order):
            data[j, :blocks[i].size] = blocks[i]
            row = rows[i]
            if row.state is not None and row.context is not None:
                state[:, j] = row.state
                context[j] = row.context
        probs = self.vad.advance(data, counts, state, context, _RATE)
        self.calls += counts[0]
        self.row_chunks += sum(counts)
        for j, i in enumerate(order):
            row = rows[i]
            row.speech += int(np.count_nonzero(probs[j, :counts[j]] >= SPEECH_PROB))
            row.done += counts[j]
            row.state = state[:, j].copy()
            row.context = context[j].copy()

    def advance(self, work: Sequence[tuple[Row, int, np.ndarray]]) -> None:
        """Run rows on with audio that arrived: ``(row, done, samples)`` where ``samples`` are whole
        chunks following the row's first ``done`` chunks (read when the row had done that many). A
        row that moved on meanwhile (:meth:`finish` ran it) is left alone."""
        with self._lock:
            live = [(row, x) for row, done, x in work
                    if not row.final and row.done == done and x.size and x.size % CHUNK == 0]
            if live:
                self._run([r for r, _ in live], [x for _, x in live])
                self.ahead_chunks += sum(x.size // CHUNK for _, x in live)

    def finish(self, rows: Sequence[Row | None], windows: Sequence[np.ndarray]) -> list[float]:
        """The speech ratio of each window (its samples from its first on), running what its row
        has not done yet (``None``: a row from scratch), all windows' rest in one batch. The rows
        are used up. Raises :class:`~synthwatch.errors.DetectorError` for non-finite samples or
        when the model fails."""
        for x in windows:
            if not np.isfinite(x).all():
                raise DetectorError("the waveform holds NaN or infinite samples")
        ready: list[Row] = []
        with self._lock:  # a row's chunks done are read and run on under the lock advance() takes too
            blocks: list[np.ndarray] = []
            for row, x in zip(rows, windows, strict=True):
                n_chunks = -(-x.size // CHUNK)
                r = row if row is not None and not row.final and row.done <= n_chunks else Row(0)
                r.final = True
                rest = x[r.done * CHUNK:]
                block = np.zeros((n_chunks - r.done) * CHUNK, dtype=np.float32)
                block[:rest.size] = rest
                ready.append(r)
                blocks.append(block)
            self._run(ready, blocks)
        out = []
        for r, x in zip(ready, windows, strict=True):
            n_chunks = -(-x.size // CHUNK)
            out.append(r.speech / n_chunks if n_chunks else 0.0)
        return out
