"""The sw-voice training data: sources, splits, generation and the manifest.

Everything generated lands in ``<cache>/`` (default ``.cache-train/sw-voice``, git-ignored):

``audio/<split>/<family or real>/<id>.flac``  16 kHz mono 16-bit FLAC (both classes alike)
``manifest.jsonl``  one JSON object per item: id, split, label, family, group (the source
                    utterance that pairs a real with its re-syntheses), speaker, source, generator
                    parameters, augmentation chain, seed, path, samples, sha256 of the PCM
``sets/<split>/...`` the clean items of the test / held-out splits in the ``real/`` +
                    ``fake/<family>/`` layout that ``synthwatch eval --data`` reads

Splits (seeded): LibriSpeech speakers 60 / 20 / 20 % -> train / val / test; every re-synthesis
follows its source utterance. espeak-ng voices are split the same way by voice; flite voices by
voice (train: awb, rms, kal; val: slt; test: kal16). MelGAN demo (MIT): the LJSpeech folders train,
the unseen-speaker / VQ-VAE / text2mel folders validate. The ``piper`` family is held out whole
(split ``heldout``): never trained or calibrated on, reported on its own against the test
speakers' real utterances.

Augmentation: each train group gets ``N_AUG_TRAIN`` chains (val: ``N_AUG_VAL``), drawn from a
generator seeded by the group, and applied identically to the real utterance and to each of its
re-syntheses; TTS and demo items draw from the same distribution. Test / held-out items stay clean
(the evaluation applies its own perturbations).
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import augment, generators

__all__ = [
    "SEED",
    "HELDOUT_FAMILY",
    "N_AUG_TRAIN",
    "N_AUG_VAL",
    "Job",
    "speaker_splits",
    "voice_splits",
    "plan",
    "run_job",
    "generate",
    "read_manifest",
    "item_rng",
    "pcm_sha256",
]

SEED = 20261125
HELDOUT_FAMILY = "piper"
N_AUG_TRAIN = 2
N_AUG_VAL = 1
LIBRI = "speech-real/librispeech-train-clean-100"
MELGAN = "speech-demos/melgan-demo"
FLITE_SPLIT = {"awb": "train", "rms": "train", "kal": "train", "slt": "val", "kal16": "test"}
ESPEAK_ITEMS_PER_VOICE = 3
FLITE_ITEMS_PER_VOICE = 15
PIPER_ITEMS = 45


def item_rng(seed: int, *parts: Any) -> np.random.Generator:
    h = hashlib.sha256(json.dumps([seed, *parts]).encode()).digest()
    return np.random.default_rng(int.from_bytes(h[:8], "little"))


def pcm_sha256(x: np.ndarray) -> str:
    """sha256 of the 16-bit PCM the FLAC stores (for de-duplication and the manifest)."""
    pcm = np.clip(np.round(np.asarray(x, np.float64) * 32767), -32768, 32767).astype("<i2")
    return hashlib.sha256(pcm.tobytes()).hexdigest()


def _three_way(keys: list[str], seed: int, what: str) -> dict[str, str]:
    keys = sorted(set(keys))
    order = item_rng(seed, "split", what).permutation(len(keys))
    n_train, n_val = int(round(0.6 * len(keys))), int(round(0.2 * len(keys)))
    out = {}
    for rank, i in enumerate(order):
        out[keys[i]] = "train" if rank < n_train else "val" if rank < n_train + n_val else "test"
    return out


def speaker_splits(files: list[str], seed: int = SEED) -> dict[str, str]:
    """LibriSpeech speaker id (file name up to the first ``-``) -> split."""
    return _three_way([Path(f).name.split("-")[0] for f in files], seed, "librispeech")


def voice_splits(seed: int = SEED) -> dict[str, str]:
    return _three_way(generators.espeak_voices(), seed, "espeak")


@dataclass(frozen=True)
class Job:
    kind: str  # libri | demo | tts
    split: str
    key: str  # utterance id / demo file id / tts item id
    source: str | None = None  # path relative to the data root
    family: str | None = None  # tts family / demo fake family
    voice: str | None = None
    label: str | None = None  # demo items
    group: str | None = None


def _melgan_group(name: str) -> str:
    stem = Path(name).stem  # e.g. assets_ablation_baseline_generated_3
    parts = stem.split("_")
    return f"melgan-{parts[1]}-{parts[-1]}"


def plan(data_root: Path, seed: int = SEED, families: tuple[str, ...] | None = None) -> list[Job]:
    """Every generation job, deterministic for ``seed``."""
    jobs: list[Job] = []
    libri = sorted(p.relative_to(data_root).as_posix() for p in (data_root / LIBRI).glob("*.flac"))
    spk = speaker_splits(libri, seed)
    for rel in libri:
        s = spk[Path(rel).name.split("-")[0]]
        jobs.append(Job("libri", s, Path(rel).stem, source=rel, group=Path(rel).stem))
    mel = data_root / MELGAN
    for p in sorted(mel.glob("*/*/*.flac")):
        label, folder = p.parent.parent.name, p.parent.name
        s = "train" if "LJSpeech" in folder else "val"
        jobs.append(Job("demo", s, f"melgan-{folder}-{p.stem}", source=p.relative_to(data_root).as_posix(),
                        family="melgan" if label == "fake" else None, label=label, group=_melgan_group(p.name)))
    want = generators.TTS_FAMILIES if families is None else families
    if "espeak" in want:
        for v, s in voice_splits(seed).items():
            for i in range(ESPEAK_ITEMS_PER_VOICE):
                jobs.append(Job("tts", s, f"espeak-{v}-{i}", family="espeak", voice=v))
    if "flite" in want:
        for v, s in FLITE_SPLIT.items():
            for i in range(FLITE_ITEMS_PER_VOICE):
                jobs.append(Job("tts", s, f"flite-{v}-{i}", family="flite", voice=v))
    if HELDOUT_FAMILY in want:
        for i in range(PIPER_ITEMS):
            jobs.append(Job("tts", "heldout", f"piper-joe-{i}", family="piper", voice="en_US-joe-medium"))
    return jobs


def _n_aug(split: str) -> int:
    return N_AUG_TRAIN if split == "train" else N_AUG_VAL if split == "val" else 0


def _write(cache: Path, rec: dict[str, Any], y: np.ndarray) -> dict[str, Any]:
    import soundfile as sf

    fam = rec["family"] or "real"
    rel = Path("audio") / rec["split"] / fam / f"{rec['id']}.flac"
    (cache / rel).parent.mkdir(parents=True, exist_ok=True)
    y = np.clip(np.asarray(y, np.float32), -1.0, 1.0)
    sf.write(str(cache / rel), y, generators.SR, subtype="PCM_16", format="FLAC")
    rec = dict(rec, path=rel.as_posix(), samples=int(y.size), sha256=pcm_sha256(y))
    if rec["split"] in ("test", "heldout") and not rec["augment"]:
        link = cache / "sets" / rec["split"] / ("real" if rec["label"] == "real" else f"fake/{fam}") / f"{rec['id']}.flac"
        link.parent.mkdir(parents=True, exist_ok=True)
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(os.path.relpath(cache / rel, link.parent))
    return rec


def _read(path: Path) -> np.ndarray:
    import soundfile as sf

    x, sr = sf.read(str(path), dtype="float32", always_2d=True)
    if sr != generators.SR:
        raise ValueError(f"{path}: {sr} Hz, expected {generators.SR}")
    return np.ascontiguousarray(x.mean(axis=1))


def _tts_text(job: Job, seed: int) -> str:
    rng = item_rng(seed, "text", job.key)
    idx = rng.choice(len(generators.SENTENCES), size=3, replace=False)
    return " ".join(generators.SENTENCES[i] for i in idx)


def _resynth(x: np.ndarray, job: Job, seed: int, spk: str | None) -> list[tuple[dict[str, Any], np.ndarray]]:
    out = []
    for fam, fn in (("griffinlim", generators.griffinlim), ("world", generators.world),
                    ("lpc", generators.lpc_vocode)):
        y, params = fn(x, item_rng(seed, fam, job.key))
        out.append(({"id": f"{job.key}-{fam}", "label": "fake", "family": fam, "speaker": spk,
                     "source": job.source, "generator": params}, y))
    return out


def run_job(job: Job, data_root: Path, cache: Path, seed: int = SEED) -> list[dict[str, Any]]:
    """Generate (and write) every item of one job; returns their manifest records."""
    warnings.simplefilter("ignore")
    base = {"split": job.split, "group": job.group or job.key, "seed": seed}
    variants: list[tuple[dict[str, Any], np.ndarray]] = []
    if job.kind == "libri":
        x = _read(data_root / str(job.source))
        spk = job.key.split("-")[0]
        variants.append(({"id": job.key, "label": "real", "family": None, "speaker": spk, "source": job.source,
                          "generator": {"corpus": "LibriSpeech train-clean-100", "licence": "CC BY 4.0"}}, x))
        variants += _resynth(x, job, seed, spk)
    elif job.kind == "demo":
        x = _read(data_root / str(job.source))
        variants.append(({"id": job.key, "label": job.label, "family": job.family, "speaker": None,
                          "source": job.source, "generator": {"set": "melgan-demo", "licence": "MIT"}}, x))
        if job.label == "real":  # re-synthesise the demo's real recordings too (pairs, as for LibriSpeech)
            variants += _resynth(x, job, seed, None)
    else:
        fam = str(job.family)
        fn = {"espeak": generators.espeak, "flite": generators.flite, "piper": generators.piper}[fam]
        text = _tts_text(job, seed)
        y, params = fn(text, str(job.voice), item_rng(seed, fam, job.key))
        variants.append(({"id": job.key, "label": "fake", "family": fam, "speaker": f"{fam}:{job.voice}",
                          "source": None, "generator": dict(params, text=text)}, y))
    out = []
    for meta, y in variants:
        out.append(_write(cache, {**base, **meta, "augment": []}, y))
    for k in range(_n_aug(job.split)):
        chain = augment.draw_chain(item_rng(seed, "aug", base["group"], k))
        if not chain:
            continue
        for meta, y in variants:
            aug_seed = int.from_bytes(hashlib.sha256(f"{seed}:{base['group']}:{k}".encode()).digest()[:4], "little")
            z = augment.apply_chain(chain, y, aug_seed)
            rec = {**base, **meta, "id": f"{meta['id']}-aug{k}", "augment": chain, "augment_seed": aug_seed,
                   "augment_name": augment.chain_name(chain), "clean_id": meta["id"]}
            out.append(_write(cache, rec, z))
    return out


def _run(args: tuple[Job, str, str, int]) -> list[dict[str, Any]]:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    job, root, cache, seed = args
    return run_job(job, Path(root), Path(cache), seed)


def _consume(it: Any, results: list[list[dict[str, Any]]], n: int, log: Any) -> None:
    for i, recs in enumerate(it):
        results.append(recs)
        if log is not None and (i + 1) % 25 == 0:
            log(f"generated {i + 1}/{len(results) and n} jobs")


def generate(data_root: Path, cache: Path, *, seed: int = SEED, workers: int = 2,
             families: tuple[str, ...] | None = None, log: Any = None) -> Path:
    """Run every job (``workers`` processes) and write ``cache/manifest.jsonl`` in plan order."""
    jobs = plan(data_root, seed, families)
    cache.mkdir(parents=True, exist_ok=True)
    results: list[list[dict[str, Any]]] = []
    args = [(j, str(data_root), str(cache), seed) for j in jobs]
    if workers <= 1:
        it: Iterator[list[dict[str, Any]]] = (run_job(j, data_root, cache, seed) for j in jobs)
        _consume(it, results, len(jobs), log)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=workers, mp_context=mp.get_context("spawn")) as ex:
            _consume(ex.map(_run, args, chunksize=2), results, len(jobs), log)
    path = cache / "manifest.jsonl"
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        for recs in results:
            for r in recs:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def read_manifest(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def iter_split(records: list[dict[str, Any]], split: str) -> Iterator[dict[str, Any]]:
    return (r for r in records if r["split"] == split)
