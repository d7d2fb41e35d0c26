"""Resemble Perth audio watermark ("Perth-Net Implicit"): embed and detect, on CPU, offline.

The PyPI wheel ``resemble-perth`` 1.0.1 ships its trained weights
(``perth/perth_net/pretrained/implicit/perth_net_250000.pth.tar``, 37 MB, MIT licence), but its own
code cannot be imported here: it needs ``torchaudio`` and ``librosa`` (neither declared in the
wheel's metadata) and ``pkg_resources`` (gone from current setuptools). So the optional extra
``perth`` installs the wheel only for its weights plus the pinned CPU ``torch``, and this module
re-implements the small inference path (the package's ``PerthNet`` encoder / decoder, 1-D
convolutions over the STFT magnitude below 2 kHz) with plain torch:

* STFT / iSTFT: ``torch.stft`` / ``torch.istft`` with the checkpoint's own Hann window, n_fft 2048,
  hop 320, centred with reflect padding (what ``torchaudio.transforms.Spectrogram`` does);
  magnitudes in dB normalised as ``(20 log10(max(|X|, 1e-9)) + 180) / 195``.
* Resampling to the model's 32 kHz with libswresample (PyAV) instead of librosa. When embedding,
  only the watermark residual (marked minus unmarked, at 32 kHz) is resampled back and added to the
  original samples, so content above 16 kHz is kept.
* Detection: the decoder's attention-weighted score in [0, 1]; the package rounds it, so a
  score >= 0.5 counts as found. Audio longer than :data:`MAX_DETECT_SECONDS` is judged on its start.
  Measured here: clean speech-like audio and noise score <= 0.02, marked >= 0.99; but pure tones
  and sweeps score anything (a clean 100 Hz tone 0.997), so narrow-band audio is reported as not
  applicable instead of as marked (see :func:`detect_file`).

Checked against the package's own code (its ``PerthImplicitWatermarker`` run with torchaudio 2.11's
Python transforms, at 32 kHz so that librosa is not involved): embedded signals agree to 3e-7 and
the decoder scores are identical. The checkpoint is loaded with ``weights_only=True`` after a sha256 check. Absence of the mark
proves nothing; a found mark is evidence the audio came from a generator that uses Perth.
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from synthwatch.errors import MediaTooLarge, ModelIntegrityError, ModelLoadError, ModelNotInstalled
from synthwatch.types import MediaKind

from .._hashing import sha256_file
from .errors import CorruptContainer, UnsupportedCarrier

__all__ = ["NAME", "WEIGHTS_SHA256", "THRESHOLD", "MIN_OCCUPANCY", "MAX_DETECT_SECONDS", "available", "weights_path",
           "PerthWatermarker", "get_watermarker", "detect_file", "embed_file", "INSTALL_HINT"]

NAME = "resemble-perth"
WEIGHTS_RELPATH = ("perth_net", "pretrained", "implicit", "perth_net_250000.pth.tar")
WEIGHTS_SHA256 = "a15bce457ebc53ce5e6c9c3f11df78cf7ee2bf9cdab0a798902135b4c4027670"
INSTALL_HINT = "pip install 'synthwatch[perth]'  (resemble-perth==1.0.1 for its weights, torch==2.13.0 CPU)"
THRESHOLD = 0.5
MIN_OCCUPANCY = 0.2
MAX_DETECT_SECONDS = 30.0
MAX_EMBED_SECONDS = 1800.0
#: most decoded values (samples x channels) :func:`embed_file` takes: 1800 s of 48 kHz stereo
_MAX_EMBED_VALUES = int(MAX_EMBED_SECONDS) * 48_000 * 2
SAMPLE_RATE = 32000
N_FFT, HOP, HIDDEN, SUBBAND = 2048, 320, 256, 128
_MAG_MIN_DB, _HEADROOM_DB = -180.0, 15.0
_LOCK = threading.Lock()
_CACHE: dict[str, PerthWatermarker] = {}


def weights_path() -> Path:
    """Where the installed ``resemble-perth`` wheel keeps its weights (the package is never imported)."""
    spec = importlib.util.find_spec("perth")
    locations = list(spec.submodule_search_locations or []) if spec is not None else []
    for loc in locations:
        p = Path(loc).joinpath(*WEIGHTS_RELPATH)
        if p.is_file():
            return p
    raise ModelNotInstalled(NAME, INSTALL_HINT)


def available() -> bool:
    """Whether torch and the Perth weights are installed (nothing is loaded)."""
    if importlib.util.find_spec("torch") is None:
        return False
    try:
        weights_path()
    except ModelNotInstalled:
        return False
    return True


def _resample(x: np.ndarray, src_rate: int, dst_rate: int) -> np.ndarray:
    """Mono float resampling with libswresample; the length is rounded to the new rate."""
    if src_rate == dst_rate or x.size == 0:
        return x.astype(np.float32, copy=False)
    import av

    frame = av.AudioFrame.from_ndarray(np.ascontiguousarray(x, dtype=np.float32)[None, :], format="fltp",
                                       layout="mono")
    frame.sample_rate = src_rate
    rs = av.AudioResampler(format="fltp", layout="mono", rate=dst_rate)
    parts = [f.to_ndarray()[0] for f in rs.resample(frame)] + [f.to_ndarray()[0] for f in rs.resample(None)]
    y = np.concatenate(parts) if parts else np.zeros(0, np.float32)
    n = round(len(x) * dst_rate / src_rate)
    return np.pad(y, (0, max(0, n - len(y))))[:n].astype(np.float32)


class PerthWatermarker:
    """The Perth-Net Implicit encoder and decoder on CPU (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str] | None = None, *, check_sha256: bool = True) -> None:
        try:
            import torch
        except ImportError as exc:
            raise ModelNotInstalled(NAME, INSTALL_HINT) from exc
        self._torch = torch
        p = Path(path) if path is not None else weights_path()
        if check_sha256 and sha256_file(p) != WEIGHTS_SHA256:
            raise ModelIntegrityError(f"{p} does not have the sha256 of resemble-perth 1.0.1's weights")
        try:
            state = torch.load(p, map_location="cpu", weights_only=True)["model"]
        except (OSError, RuntimeError, KeyError, TypeError, ValueError) as exc:
            raise ModelLoadError(f"cannot load the Perth weights {p}: {exc}") from exc
        nn = torch.nn

        def conv(i: int, o: int, k: int, act: bool = True) -> Any:
            layers: list[Any] = [nn.Conv1d(i, o, k, padding=(k - 1) // 2)]
            if act:
                layers.append(nn.LeakyReLU())
            return nn.Sequential(*layers)

        def stack(out: int) -> Any:
            return nn.Sequential(conv(SUBBAND, HIDDEN, 1), *[conv(HIDDEN, HIDDEN, 7) for _ in range(5)],
                                 conv(HIDDEN, out, 1, act=False))

        self.encoder = stack(SUBBAND)
        self.decoders = {name: stack(2) for name in ("slow", "normal", "fast")}
        try:
            self._load(self.encoder, state, "encoder.layers")
            for name, module in self.decoders.items():
                self._load(module, state, f"decoder.{name}_layers")
            self.window = state["ap.spectrogram.window"].float()
        except (KeyError, RuntimeError) as exc:
            raise ModelLoadError(f"the Perth weights do not fit the Perth-Net Implicit model: {exc}") from exc
        for module in (self.encoder, *self.decoders.values()):
            module.eval()

    @staticmethod
    def _load(module: Any, state: dict[str, Any], prefix: str) -> None:
        # the package names its layers <prefix>.<i>.conv.{weight,bias}; here <i>.0.{weight,bias}
        mine = {f"{i}.0.{kind}": state[f"{prefix}.{i}.conv.{kind}"] for i in range(7) for kind in ("weight", "bias")}
        module.load_state_dict(mine, strict=True)

    # -- signal processing ------------------------------------------------------------------------

    def _magphase(self, x: np.ndarray) -> tuple[Any, Any]:
        torch = self._torch
        spec = torch.stft(torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)), N_FFT, HOP, N_FFT,
                          self.window, center=True, pad_mode="reflect", normalized=False, onesided=True,
                          return_complex=True)
        mag = 20 * torch.log10(spec.abs().clamp(min=10 ** (_MAG_MIN_DB / 20)))
        return (mag - _MAG_MIN_DB) / (-_MAG_MIN_DB + _HEADROOM_DB), torch.angle(spec)

    def _signal(self, mag: Any, phase: Any, length: int) -> np.ndarray:
        torch = self._torch
        db = mag * (-_MAG_MIN_DB + _HEADROOM_DB) + _MAG_MIN_DB
        spec = (10.0 ** (db / 20).clamp(max=10)) * torch.exp(1j * phase)
        y = torch.istft(spec, N_FFT, HOP, N_FFT, self.window, center=True, normalized=False, onesided=True,
                        length=length)
        return np.asarray(y.numpy(), dtype=np.float32)

    @staticmethod
    def _mask(mag: Any) -> Any:
        s = mag.sum(dim=1)
        return (s > s.max(dim=1).values[:, None] * 0.05).float()[:, None]

    # -- public -----------------------------------------------------------------------------------

    def embed(self, samples: np.ndarray, sample_rate: int) -> np.ndarray:
        """``samples`` ((n,) or (channels, n) float in [-1, 1]) with the watermark; same shape and rate."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:
            return np.asarray(np.stack([self.embed(ch, sample_rate) for ch in x]))
        if x.ndim != 1 or x.size < N_FFT:
            raise UnsupportedCarrier(f"Perth needs at least {N_FFT} samples of mono or multichannel audio")
        torch = self._torch
        y32 = _resample(x, sample_rate, SAMPLE_RATE)
        with torch.inference_mode():
            mag, phase = self._magphase(y32)
            m = mag[None]
            res = self.encoder(m[:, :SUBBAND]) * self._mask(m)
            marked = m.clone()
            marked[:, :SUBBAND] += res
            plain = self._signal(mag, phase, len(y32))
            wm = self._signal(marked[0], phase, len(y32))
        residual = _resample(wm - plain, SAMPLE_RATE, sample_rate)
        return np.asarray(np.clip(x + residual[: len(x)], -1.0, 1.0), dtype=np.float32)

    def score(self, samples: np.ndarray, sample_rate: int) -> float:
        """The decoder's watermark score in [0, 1] (mono mix of the first :data:`MAX_DETECT_SECONDS`)."""
        return self.analyse(samples, sample_rate)[0]

    def analyse(self, samples: np.ndarray, sample_rate: int) -> tuple[float, float]:
        """(score, band occupancy): the decoder's score and the median share of STFT bins below 2 kHz
        within 40 dB of each frame's peak (pure tones and sweeps are near 0.05, speech and noise near 1)."""
        x = np.asarray(samples, dtype=np.float32)
        if x.ndim == 2:
            x = x.mean(axis=0)
        x = x[: int(MAX_DETECT_SECONDS * sample_rate)]
        if x.size < N_FFT:
            raise UnsupportedCarrier("audio too short for the Perth detector")
        torch = self._torch
        F = torch.nn.functional
        with torch.inference_mode():
            mag, _ = self._magphase(_resample(x, sample_rate, SAMPLE_RATE))
            mag = mag[None]
            mask = self._mask(mag)
            sub = mag[:, :SUBBAND]
            t = sub.shape[2]
            wmarks, attns = [], []
            for name, scale in (("slow", 1.25), ("normal", 1.0), ("fast", 0.75)):
                inp = sub if scale == 1.0 else F.interpolate(sub, size=int(t * scale), mode="linear",
                                                              align_corners=True)
                out = self.decoders[name](inp)
                m = F.interpolate(mask, size=out.shape[2], mode="nearest")
                denom = m.sum(dim=2).clamp(min=1e-9)
                attns.append((out[:, :1] * m).sum(dim=2) / denom)
                wmarks.append((out[:, 1:] * m).sum(dim=2) / denom)
            attn = F.softmax(torch.cat(attns, dim=1), dim=1)
            value = (torch.cat(wmarks, dim=1) * attn).sum(dim=1)[0]
            # occupancy on the normalised dB scale: 40 dB is 40 / 195 of it
            peak = sub[0].max(dim=0).values
            active = peak > peak.max() - 60.0 / (-_MAG_MIN_DB + _HEADROOM_DB)
            occ = (sub[0] > peak - 40.0 / (-_MAG_MIN_DB + _HEADROOM_DB)).float().mean(dim=0)[active]
            occupancy = float(occ.median()) if occ.numel() else 0.0
        return float(value.clamp(0.0, 1.0)), occupancy


def get_watermarker() -> PerthWatermarker:
    """The process-wide watermarker, loaded once (thread-safe)."""
    with _LOCK:
        if "default" not in _CACHE:
            _CACHE["default"] = PerthWatermarker()
        return _CACHE["default"]


def _decode_task(path: str, max_seconds: float, max_values: int, mono: bool) -> Iterator[Any]:
    """In the isolated worker: ``(rate, channels)``, then the first ``max_seconds`` of the first audio
    stream as float32 ``(channels, n)`` blocks at its own rate; more than ``max_values`` decoded
    values in all is :class:`MediaTooLarge`."""
    import av

    from synthwatch.media._worker import open_av
    from synthwatch.media.sniff import demuxer_for, sniff

    try:  # opened as a file, the sniffed demuxer forced, local-only nested opens (as the scan decoders)
        sniffed = sniff(path)
        fmt = sniffed.format
        if sniffed.kind not in (MediaKind.AUDIO, MediaKind.VIDEO):
            raise UnsupportedCarrier(f"{fmt} files have no audio stream")
        with open_av(path, demuxer_for(fmt)) as c:
            if not c.streams.audio:
                raise UnsupportedCarrier("the file has no audio stream")
            s = c.streams.audio[0]
            rate = int(s.codec_context.sample_rate or 0)
            if rate <= 0:
                raise CorruptContainer("the audio stream has no sample rate")
            layout = "mono" if mono else s.codec_context.layout.name
            rs = av.AudioResampler(format="fltp", layout=layout, rate=rate)
            first = True
            total, values, limit = 0, 0, int(max_seconds * rate)
            for frame in c.decode(s):
                for f in rs.resample(frame):
                    block = np.ascontiguousarray(f.to_ndarray(), dtype=np.float32)
                    if first:
                        yield (rate, int(block.shape[0]))
                        first = False
                    values += block.size
                    if values > max_values:
                        raise MediaTooLarge(f"more than {max_values:,} decoded audio values to watermark",
                                            limit="perth_embed_values", value=values, maximum=max_values)
                    total += f.samples
                    yield block
                if total >= limit:
                    break
    except (av.error.FFmpegError, ValueError, OSError) as exc:
        raise CorruptContainer(f"the audio could not be decoded: {exc}") from exc


def _decode_audio(path: str | os.PathLike[str], max_seconds: float, *, mono: bool,
                  deadline: float | None = None) -> tuple[np.ndarray, int]:
    """The first ``max_seconds`` of ``path``'s first audio stream as float32 ((channels, n), or (n,) with
    ``mono``) at its own rate, decoded in the isolated provenance worker (:mod:`.isolation`, under
    ``decode_timeout_s`` / ``decode_memory_mb``): a hostile file cannot crash, hang or exhaust the caller."""
    from .isolation import malformed, stream

    what = "decoding the audio to watermark"
    blocks = stream("perth_decode", {"path": os.fspath(path), "max_seconds": float(max_seconds),
                                     "max_values": _MAX_EMBED_VALUES, "mono": mono}, what=what, deadline=deadline)
    parts: list[np.ndarray] = []
    rate = channels = values = 0
    try:
        for item in blocks:
            if not parts and not rate:
                if not (isinstance(item, tuple) and len(item) == 2 and all(isinstance(v, int) and v > 0 for v in item)):
                    raise malformed(what)
                rate, channels = item
                continue
            if not (isinstance(item, np.ndarray) and item.dtype == np.float32 and item.ndim == 2
                    and item.shape[0] == channels):
                raise malformed(what)
            values += item.size
            if values > _MAX_EMBED_VALUES:  # the worker checks this too; the caller does not trust it
                raise MediaTooLarge(f"more than {_MAX_EMBED_VALUES:,} decoded audio values to watermark",
                                    limit="perth_embed_values", value=values, maximum=_MAX_EMBED_VALUES)
            parts.append(item)
    finally:
        blocks.close()
    if not parts:
        raise CorruptContainer("the audio stream holds no decodable sample")
    x = np.concatenate(parts, axis=1)[:, : int(max_seconds * rate)]
    return (x[0] if mono else x), rate


def _first_seconds(path: str | os.PathLike[str], seconds: float, deadline: float | None = None,
                   sniffed: Any = None) -> tuple[np.ndarray, int]:
    """The first ``seconds`` of the (default) audio track as float32 mono at :data:`SAMPLE_RATE`,
    decoded in synthwatch's sandboxed decoder (a hostile upload cannot hang or crash the caller),
    under the caller's limits and deadline (:mod:`.scope`)."""
    from ..media import iter_audio
    from .scope import current, deadline_for

    windows = iter_audio(path, current().limits, sample_rate=SAMPLE_RATE, window_s=seconds, hop_s=seconds,
                         deadline=deadline_for(deadline), sniffed=sniffed)
    try:
        first = next(iter(windows), None)
    finally:
        windows.close()  # type: ignore[attr-defined]
    if first is None:
        raise UnsupportedCarrier("the file has no audio stream (or no decodable audio)")
    return np.asarray(first.samples, dtype=np.float32), SAMPLE_RATE


def detect_file(path: str | os.PathLike[str], *, deadline: float | None = None,
                sniffed: Any = None) -> dict[str, Any]:
    """Check an audio (or a video's audio) file for the Perth mark.

    ``{name, score, threshold, occupancy, found}``; on narrow-band audio (pure tones, sweeps: band
    occupancy under :data:`MIN_OCCUPANCY`) the decoder's score means nothing (a clean 100 Hz tone
    scores 1.0), so ``found`` is False and ``not_applicable`` says why. ``deadline`` (a
    :func:`time.monotonic` value) bounds the decoding; ``sniffed``: the file's type when the caller
    already read it (``synthwatch.media.sniff.Sniffed``).
    """
    x, rate = _first_seconds(path, MAX_DETECT_SECONDS, deadline, sniffed)
    score, occupancy = get_watermarker().analyse(x, rate)
    hit: dict[str, Any] = {"name": NAME, "score": round(score, 4), "threshold": THRESHOLD,
                           "occupancy": round(occupancy, 4), "found": False}
    if occupancy < MIN_OCCUPANCY:
        hit["not_applicable"] = (f"narrow-band audio (band occupancy {occupancy:.2f} < {MIN_OCCUPANCY}): "
                                 "the Perth detector is not reliable on tones")
    else:
        hit["found"] = score >= THRESHOLD
    return hit


def embed_file(src: str | os.PathLike[str], dst: str | os.PathLike[str], *,
               deadline: float | None = None) -> dict[str, Any]:
    """Write ``src`` (any audio PyAV decodes) as a watermarked WAV or FLAC ``dst`` (by its extension).

    Lossless output only, so nothing degrades the mark on the way out; metadata (and so an implicit
    label) is not carried: write the label afterwards. The source is decoded in the isolated
    provenance worker (a hostile file costs a typed error, never the calling process); at most
    :data:`MAX_EMBED_SECONDS` of it is marked and written. ``dst`` is only written on success.
    """
    import soundfile as sf

    ext = os.path.splitext(os.fspath(dst))[1].lower()
    if ext not in (".wav", ".flac"):
        raise UnsupportedCarrier("Perth embedding writes .wav or .flac files")
    x, rate = _decode_audio(src, MAX_EMBED_SECONDS, mono=False, deadline=deadline)
    y = get_watermarker().embed(x, rate)
    from ._transcode import temp_output

    with temp_output(dst, ext) as tmp:  # removed unless moved into place
        try:
            sf.write(tmp, y.T, rate, subtype="PCM_16" if ext == ".wav" else "PCM_24")
            os.replace(tmp, dst)
        except (sf.LibsndfileError, RuntimeError, ValueError, OSError) as exc:
            from synthwatch.media.source import display_name

            raise CorruptContainer(f"cannot write {display_name(dst)}: {exc}") from exc
    return {"name": NAME, "sample_rate": rate, "channels": int(y.shape[0]), "seconds": y.shape[1] / rate}
