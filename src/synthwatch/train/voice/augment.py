"""Codec and channel augmentation for sw-voice training, applied IDENTICALLY to both classes.

A chain is a list of steps (dicts, JSON-serialisable, recorded in the manifest). :func:`draw_chain`
draws one from a seeded generator; :func:`apply_chain` applies it with a generator seeded from the
chain itself, so the real utterance and every re-synthesis of it get exactly the same processing
(same codec, bitrate, noise realisation, room response).

Steps: ``mp3`` / ``aac`` / ``opus`` codec round trips and ``tel8k`` (the evaluation harness's own
implementations in :mod:`synthwatch.evaluate.perturb`), white ``noise`` at an SNR, ``reverb`` with a
synthetic RIR, ``gain``, and two RawBoost-style steps (Tak et al., ICASSP 2022): ``lnl`` (linear and
non-linear convolutive noise: a random multi-band FIR filter applied to powers of the signal) and
``isd`` (impulsive signal-dependent noise on a random fraction of samples), plus ``ssi`` (stationary
coloured additive noise: white noise through a random band filter at an SNR).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import numpy as np

from ...evaluate import perturb

SR = 16_000

__all__ = ["draw_chain", "apply_chain", "apply_step", "chain_name", "lnl", "isd", "ssi"]


def chain_name(chain: list[dict[str, Any]]) -> str:
    return "+".join(s["op"] + (f":{s['value']}" if "value" in s else "") for s in chain) or "clean"


def _rng_for(chain: list[dict[str, Any]], seed: int) -> np.random.Generator:
    h = hashlib.sha256(json.dumps([seed, chain], sort_keys=True).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def draw_chain(rng: np.random.Generator) -> list[dict[str, Any]]:
    """One random augmentation chain (possibly empty = clean)."""
    chain: list[dict[str, Any]] = []
    r = rng.random()
    if r < 0.12:
        return chain
    # first: room / additive noise / RawBoost (signal-domain), then the channel or codec
    if rng.random() < 0.25:
        chain.append({"op": "reverb", "value": round(float(rng.uniform(0.15, 0.8)), 2)})
    k = rng.random()
    if k < 0.2:
        chain.append({"op": "lnl"})
    elif k < 0.35:
        chain.append({"op": "isd"})
    elif k < 0.5:
        chain.append({"op": "ssi", "value": round(float(rng.uniform(10, 35)), 1)})
    elif k < 0.65:
        chain.append({"op": "noise", "value": round(float(rng.uniform(8, 35)), 1)})
    c = rng.random()
    if c < 0.22:
        chain.append({"op": "mp3", "value": int(rng.choice([32_000, 48_000, 64_000, 96_000, 128_000]))})
    elif c < 0.36:
        chain.append({"op": "aac", "value": int(rng.choice([32_000, 64_000, 96_000]))})
    elif c < 0.5:
        chain.append({"op": "opus", "value": int(rng.choice([12_000, 16_000, 24_000, 32_000]))})
    elif c < 0.68:
        chain.append({"op": "tel8k"})
        if rng.random() < 0.4:
            chain.append({"op": "mp3", "value": int(rng.choice([32_000, 64_000]))})
    chain.append({"op": "gain", "value": round(float(rng.uniform(-12, 3)), 1)})
    return chain


def _random_fir(rng: np.random.Generator, n_bands: int, taps: int) -> np.ndarray:
    """A multi-notch / multi-band FIR: sum of random band-pass windowed-sinc filters."""
    h = np.zeros(taps)
    n = np.arange(taps) - (taps - 1) / 2.0
    for _ in range(n_bands):
        fc = rng.uniform(20, 8000 - 1000)
        bw = rng.uniform(100, 1000)
        lo, hi = max(fc - bw / 2, 1.0) / SR, min(fc + bw / 2, SR / 2 - 1) / SR
        h += (2 * hi * np.sinc(2 * hi * n) - 2 * lo * np.sinc(2 * lo * n)) * rng.uniform(0.3, 1.0)
    h *= np.hamming(taps)
    return h / (np.max(np.abs(np.fft.rfft(h, 1024))) + 1e-9)


def lnl(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RawBoost algorithm 1: linear and non-linear convolutive noise (powers 1..3 of the signal,
    each through its own random FIR); the output keeps the input's RMS."""
    xd = np.asarray(x, np.float64)
    y = np.zeros_like(xd)
    for p in range(1, 4):
        h = _random_fir(rng, int(rng.integers(2, 6)), int(rng.integers(10, 100)) * 2 + 1)
        y += np.convolve(xd ** p, h, mode="same") * (1.0 if p == 1 else rng.uniform(0.0, 0.3))
    return _keep_rms(y, xd)


def isd(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """RawBoost algorithm 2: impulsive signal-dependent noise on up to 10 % of the samples."""
    xd = np.asarray(x, np.float64).copy()
    p = rng.uniform(0.01, 0.1)
    idx = rng.random(xd.size) < p
    g = rng.uniform(2, 10)
    xd[idx] += xd[idx] * g * rng.uniform(-1, 1, int(idx.sum()))
    return np.clip(xd, -1, 1).astype(np.float32)


def ssi(x: np.ndarray, snr: float, rng: np.random.Generator) -> np.ndarray:
    """RawBoost algorithm 3: stationary coloured additive noise (white noise through a random
    band filter) at ``snr`` dB."""
    xd = np.asarray(x, np.float64)
    n = np.convolve(rng.standard_normal(xd.size), _random_fir(rng, int(rng.integers(2, 6)), 101), mode="same")
    px = float(np.mean(xd ** 2))
    pn = float(np.mean(n ** 2)) + 1e-20
    return (xd + n * np.sqrt(px / 10 ** (snr / 10) / pn)).astype(np.float32)


def _keep_rms(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    ry = float(np.sqrt(np.mean(y ** 2))) + 1e-12
    rr = float(np.sqrt(np.mean(ref ** 2)))
    return np.clip(y * rr / ry, -1, 1).astype(np.float32)


def apply_step(step: dict[str, Any], x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    op = step["op"]
    if x.size == 0:
        return x
    if op in ("mp3", "aac", "opus"):
        return perturb.codec_roundtrip(x, SR, op, float(step["value"]))
    if op == "tel8k":
        return perturb.telephone(x, SR)
    if op == "noise":
        return perturb.add_noise(x, float(step["value"]), rng)
    if op == "reverb":
        return perturb.reverb(x, SR, float(step["value"]), rng)
    if op == "gain":
        return np.clip(np.asarray(x, np.float32) * np.float32(10 ** (float(step["value"]) / 20)), -1, 1)
    if op == "lnl":
        return lnl(x, rng)
    if op == "isd":
        return isd(x, rng)
    if op == "ssi":
        return ssi(x, float(step["value"]), rng)
    raise ValueError(f"unknown augmentation step {op!r}")


def apply_chain(chain: list[dict[str, Any]], x: np.ndarray, seed: int) -> np.ndarray:
    """Apply ``chain`` to ``x``; the random parts come from ``(seed, chain)`` alone, so the same
    call on a real utterance and on its re-synthesis uses the same noise, RIR and filters."""
    rng = _rng_for(chain, seed)
    y = np.asarray(x, np.float32)
    for step in chain:
        y = apply_step(step, y, rng)
    return np.asarray(y, np.float32)
