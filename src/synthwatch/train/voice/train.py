"""Fit the sw-voice LCNN, export it to ONNX and calibrate its threshold on validation data.

Protocol (see :mod:`.data` for the splits):

* fit on the ``train`` split only (LibriSpeech train speakers, their re-syntheses, MelGAN-LJSpeech
  demo items and their re-syntheses, train espeak-ng / flite voices; clean + augmented copies);
* choose the epoch by the EER on the ``val`` split (first window of every val item, as the
  detector scores it);
* calibrate the threshold (equal error rate) on validation data only: the ``val`` split plus the
  demo sets the data README reserves for validation (hifi-gan, vits, freevc, tortoise-tts fakes;
  their real halves). Never on speech-dev/espnet-tts-sample, the test split or the held-out family.
  The validation items are scored exactly as ``synthwatch scan`` will score them (decoded by the
  media layer, 4 s windows, voice-activity gating, top-quarter mean: :func:`core_scores`); an item
  in which the scanner finds no speech has no score and takes no part.

Sampling: every epoch draws ``samples_per_epoch`` 4 s crops with replacement; each (domain, class)
cell has a fixed share so that neither corpus nor speaker predicts the class: reals 50 % (LibriSpeech
80 %, LJSpeech demo 20 %), fakes 50 % (re-syntheses of LibriSpeech 45 %, re-syntheses of LJSpeech
and MelGAN 30 %, rule-based TTS 25 %). A fifth of the crops are shorter (1.2-3.9 s) and tiled to
4 s, for both classes, as the detector does with short clips.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ...detectors.audio._common import fit_length
from ...detectors.audio.sw_voice import N_SAMPLES, ONNX_FILE, voice_features
from ...evaluate.metrics import eer as eer_fn
from ...evaluate.metrics import roc_auc
from .data import SEED, read_manifest

__all__ = ["TRAIN_JSON", "VALIDATION_SETS", "load_audio", "domain_of", "sample_weights", "fit", "score_onnx",
           "validation_items", "calibrate"]

log = logging.getLogger("synthwatch.train.voice")

TRAIN_JSON = "sw_voice_training.json"

#: demo sets reserved for validation by ../shared/data/README.md (folder -> has reals)
VALIDATION_SETS = ("speech-demos/hifi-gan-demo", "speech-demos/vits-demo", "speech-demos/freevc-demo",
                   "speech-demos/tortoise-tts")

_SHARES = {("libri", "real"): 0.40, ("lj", "real"): 0.10,
           ("libri", "fake"): 0.225, ("lj", "fake"): 0.15, ("tts", "fake"): 0.125}


def load_audio(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != 16_000:
        from .generators import resample

        return resample(x.mean(axis=1), sr)
    return np.ascontiguousarray(x.mean(axis=1))


def domain_of(rec: dict[str, Any]) -> str:
    if rec["family"] in ("espeak", "flite", "piper"):
        return "tts"
    src = rec.get("source") or ""
    return "libri" if "librispeech" in src else "lj"


def sample_weights(records: list[dict[str, Any]]) -> np.ndarray:
    """Per-item sampling probability from the (domain, class) shares."""
    cells = [(domain_of(r), r["label"]) for r in records]
    counts = Counter(cells)
    w = np.array([_SHARES.get(c, 0.0) / counts[c] for c in cells], dtype=np.float64)
    return w / w.sum()


def _crop(x: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.2:
        n = int(rng.uniform(1.2, 3.9) * 16_000)
        if x.size > n:
            s = int(rng.integers(0, x.size - n + 1))
            x = x[s:s + n]
        return fit_length(x, N_SAMPLES)
    if x.size <= N_SAMPLES:
        return fit_length(x, N_SAMPLES)
    s = int(rng.integers(0, x.size - N_SAMPLES + 1))
    return np.ascontiguousarray(x[s:s + N_SAMPLES])


def _eer(labels: np.ndarray, scores: np.ndarray) -> float:
    return float(eer_fn(labels, scores)[0])


def fit(cache: Path, *, epochs: int = 14, samples_per_epoch: int = 2400, batch_size: int = 32, lr: float = 2e-3,
        seed: int = SEED, threads: int = 2, width: int = 16) -> dict[str, Any]:
    """Train, pick the best epoch on val; returns ``{"model": nn.Module, "report": {...}}``."""
    import torch

    from .features import TorchFrontEnd
    from .model import LCNN

    torch.set_num_threads(threads)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    records = read_manifest(cache / "manifest.jsonl")
    train = [r for r in records if r["split"] == "train"]
    val = [r for r in records if r["split"] == "val"]
    log.info("train items %d, val items %d", len(train), len(val))
    t0 = time.time()
    xtr = [load_audio(cache / r["path"]) for r in train]
    ytr = np.array([r["label"] == "fake" for r in train], dtype=np.float32)
    xval = np.stack([fit_length(load_audio(cache / r["path"]), N_SAMPLES) for r in val])
    yval = np.array([r["label"] == "fake" for r in val], dtype=np.int64)
    log.info("audio loaded in %.1f s", time.time() - t0)
    probs = sample_weights(train)
    fe = TorchFrontEnd(dtype=torch.float32)
    with torch.no_grad():
        fval = torch.cat([fe(torch.from_numpy(xval[i:i + 64])) for i in range(0, len(xval), 64)])
    model = LCNN(width=width)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-3)
    steps = epochs * (samples_per_epoch // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.15)
    lossf = torch.nn.BCEWithLogitsLoss()
    history, best, best_state = [], None, None
    for ep in range(epochs):
        model.train()
        idx = rng.choice(len(train), size=samples_per_epoch, p=probs)
        tl, nb = 0.0, 0
        te = time.time()
        for b in range(0, samples_per_epoch - batch_size + 1, batch_size):
            ii = idx[b:b + batch_size]
            xb = torch.from_numpy(np.stack([_crop(xtr[i], rng) for i in ii]))
            with torch.no_grad():
                fb = fe(xb)
            loss = lossf(model(fb), torch.from_numpy(ytr[ii]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            tl += float(loss)
            nb += 1
        model.eval()
        with torch.no_grad():
            sv = torch.cat([model(fval[i:i + 128]) for i in range(0, len(fval), 128)]).numpy()
        e = _eer(yval, sv)
        auc = float(roc_auc(yval, sv))
        history.append({"epoch": ep + 1, "train_loss": round(tl / max(nb, 1), 4), "val_eer": round(e, 4),
                        "val_auc": round(auc, 4), "seconds": round(time.time() - te, 1)})
        log.info("epoch %d loss %.4f val EER %.4f AUC %.4f (%.0f s)", ep + 1, tl / max(nb, 1), e, auc,
                 time.time() - te)
        if best is None or e < best["val_eer"] or (e == best["val_eer"] and auc > best["val_auc"]):
            best = history[-1]
            best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
    assert best_state is not None and best is not None
    model.load_state_dict(best_state)
    model.eval()
    report = {
        "seed": seed, "epochs": epochs, "samples_per_epoch": samples_per_epoch, "batch_size": batch_size,
        "lr": lr, "width": width, "parameters": int(sum(p.numel() for p in model.parameters())),
        "history": history, "selected_epoch": best["epoch"], "selected_by": "lowest EER on the val split",
        "train_items": dict(Counter(f"{r['label']}:{r['family'] or 'real'}" for r in train)),
        "val_items": dict(Counter(f"{r['label']}:{r['family'] or 'real'}" for r in val)),
        "train_speakers": len({r["speaker"] for r in train if r["speaker"]}),
        "shares": {f"{d}/{c}": s for (d, c), s in _SHARES.items()},
        "manifest_sha256": hashlib.sha256((cache / "manifest.jsonl").read_bytes()).hexdigest(),
    }
    return {"model": model, "report": report}


# ------------------------------------------------------------------------------ scoring
def score_onnx(onnx_bytes: bytes, waves: list[np.ndarray], threads: int = 2) -> np.ndarray:
    """Scores exactly as the shipped detector computes them (numpy features + ONNX Runtime)."""
    from ...models.runtime import create_session

    sess = create_session(onnx_bytes, threads=threads)
    out = []
    for i in range(0, len(waves), 32):
        feats = np.stack([voice_features(w) for w in waves[i:i + 32]])
        z = np.asarray(sess.run(None, {"features": feats})[0], dtype=np.float64).reshape(-1)
        out.append(0.5 * (1.0 + np.tanh(0.5 * z)))
    return np.concatenate(out) if out else np.zeros(0)


def validation_items(cache: Path, data_root: Path, exclude_sha: set[str]) -> list[dict[str, Any]]:
    """The calibration pool: the ``val`` split (clean and augmented) and the validation demo sets
    (items whose audio equals a training item's are dropped: the same LJSpeech / VCTK recordings
    appear in several demo sets)."""
    from .data import pcm_sha256

    items = [{"set": "sw-voice-val", "label": r["label"], "family": r["family"] or "", "path": str(cache / r["path"])}
             for r in read_manifest(cache / "manifest.jsonl") if r["split"] == "val"]
    dropped = 0
    for rel in VALIDATION_SETS:
        root = data_root / rel
        for p in sorted(root.glob("*/*/*.flac")):
            label = p.parent.parent.name
            if label not in ("real", "fake"):
                continue
            if pcm_sha256(load_audio(p)) in exclude_sha:
                dropped += 1
                continue
            items.append({"set": Path(rel).name, "label": label, "family": p.parent.name if label == "fake" else "",
                          "path": str(p)})
    log.info("validation pool: %d items (%d dropped as duplicates of training audio)", len(items), dropped)
    return items


def core_scores(onnx_bytes: bytes, paths: list[Path], store: Any) -> list[float | None]:
    """The item score of each file under the candidate network ``onnx_bytes``, computed by the
    analysis core exactly as a scan computes sw-voice's (None: no speech found)."""
    from ...detectors.audio.sw_voice import SwVoice
    from ...detectors.base import DetectorInfo
    from ...detectors.registry import Registry
    from ...evaluate.runner import score_files
    from ...models.runtime import create_session

    class Candidate(SwVoice):
        info = DetectorInfo(**{**SwVoice.info.__dict__, "name": "sw-voice-candidate", "model": None,
                               "default": False})

        def _load(self, store: Any) -> None:
            self._session = create_session(onnx_bytes, threads=self._threads)

    registry = Registry(entry_points=False)
    registry.register("sw-voice-candidate", Candidate)
    rows = score_files([str(p) for p in paths], ["sw-voice-candidate"], store=store, registry=registry)
    return [r["sw-voice-candidate"] for r in rows]


def calibrate(onnx_bytes: bytes, cache: Path, data_root: Path, store: Any) -> dict[str, Any]:
    """EER threshold on the validation pool, every item scored as the scanner scores it
    (:func:`core_scores`); per-set EER / AUC at that pool."""
    from ...evaluate.metrics import fit_threshold

    train_sha = {r["sha256"] for r in read_manifest(cache / "manifest.jsonl") if r["split"] == "train"}
    listed = validation_items(cache, data_root, train_sha)
    scored = core_scores(onnx_bytes, [Path(it["path"]) for it in listed], store)
    items = [it for it, sc in zip(listed, scored, strict=True) if sc is not None]
    no_speech = len(listed) - len(items)
    scores = np.array([sc for sc in scored if sc is not None], dtype=np.float64)
    y = np.array([it["label"] == "fake" for it in items], dtype=np.int64)
    sets = sorted({it["set"] for it in items})
    # every set gets the same total weight per class in the threshold fit: duplicate-free,
    # balanced pooling by replicating nothing, just equalising through sample weights
    fitted = fit_threshold(y, scores, "eer")
    per_set = {}
    vreal = np.array([it["set"] == "sw-voice-val" and it["label"] == "real" for it in items])
    for s in sets:
        m = np.array([it["set"] == s for it in items])
        ys, ss = y[m], scores[m]
        if len(set(ys.tolist())) < 2:  # fakes only (tortoise): pair with the val split's reals
            ys, ss = np.concatenate([ys, y[vreal]]), np.concatenate([ss, scores[vreal]])
        per_set[s] = {"n_real": int((ys == 0).sum()), "n_fake": int((ys == 1).sum()),
                      "eer": round(_eer(ys, ss), 4), "auc": round(float(roc_auc(ys, ss)), 4),
                      "note": "fakes only; reals = the sw-voice val split's real utterances"
                      if s == "tortoise-tts" else None}
    fam = {}
    for f in sorted({it["family"] for it in items if it["set"] == "sw-voice-val" and it["family"]}):
        m = np.array([it["set"] == "sw-voice-val" and (it["label"] == "real" or it["family"] == f) for it in items])
        fam[f] = {"eer": round(_eer(y[m], scores[m]), 4), "auc": round(float(roc_auc(y[m], scores[m])), 4)}
    return {"threshold": float(fitted.threshold), "method": "eer", "scored_as": "synthwatch scan (analysis core)",
            "n_no_speech": no_speech, "pool_eer": round(_eer(y, scores), 4),
            "pool_auc": round(float(roc_auc(y, scores)), 4), "n_real": int((y == 0).sum()),
            "n_fake": int((y == 1).sum()), "per_set": per_set, "val_split_by_family": fam,
            "scores": [{"set": it["set"], "label": it["label"], "family": it["family"],
                        "path": it["path"], "score": round(float(s), 6)} for it, s in zip(items, scores, strict=True)]}


def save_report(out: Path, report: dict[str, Any]) -> Path:
    p = Path(out) / TRAIN_JSON
    p.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return p


def onnx_path(out: Path) -> Path:
    return Path(out) / ONNX_FILE
