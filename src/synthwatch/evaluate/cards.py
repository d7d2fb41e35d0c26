"""Write a threshold fitted by ``synthwatch eval --calibrate-on SPLIT`` into an installed model's
card (``<store>/<name>/card.yaml``), with where it came from.

The installed card is what :meth:`synthwatch.detectors.base.Detector.load` reads, so the new
threshold is used by every later scan. The card's ``threshold_source`` says how and on what it was
fitted; ``calibration`` (an extra card field) keeps the details, including the previous threshold;
``metrics`` gains the entries measured on the reported (non-calibration) items at that threshold,
with the command that reproduces them. The card file is replaced atomically (written beside it,
then renamed); the model files and ``installed.json`` are not touched.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from .. import __version__
from ..errors import ConfigError
from ..models.card import ModelCard
from ..models.store import ModelStore

__all__ = ["write_threshold", "calibrations_from_results"]


def write_threshold(store: ModelStore, model: str, threshold: float, *, source: str,
                    calibration: dict[str, Any], metrics: list[dict[str, Any]] | None = None) -> ModelCard:
    """Set ``threshold`` in the installed card of ``model``; returns the new card.

    ``source`` becomes ``threshold_source``; ``calibration`` is stored under the card's
    ``calibration`` key (with ``previous_threshold``, ``previous_threshold_source``, ``written_at``
    and ``synthwatch_version`` added); ``metrics`` entries are appended to the card's metrics,
    replacing earlier entries written by synthwatch eval for the same metric and dataset.
    """
    if not 0.0 < float(threshold) < 1.0 or threshold != threshold:
        raise ConfigError(f"threshold {threshold} is not in (0, 1); a detector score threshold must be")
    inst = store.installed(model)  # ModelNotInstalled / ModelIntegrityError
    card = inst.card
    cal = {**calibration, "previous_threshold": card.threshold, "previous_threshold_source": card.threshold_source,
           "written_at": datetime.now(UTC).isoformat(timespec="seconds"), "synthwatch_version": __version__}
    new_metrics = list(metrics or [])
    keys = {(m.get("metric"), m.get("dataset")) for m in new_metrics}
    kept = [m for m in card.metrics
            if not (m.get("source", "").startswith("synthwatch eval") and (m.get("metric"), m.get("dataset")) in keys)]
    extra = {**card.extra, "calibration": cal}
    new = replace(card, threshold=float(threshold), threshold_source=source, metrics=kept + new_metrics, extra=extra)
    new.validate()
    return store.update_card(model, new).card


def calibrations_from_results(results: dict[str, Any], results_path: str | None = None) -> list[dict[str, Any]]:
    """For every detector of a run that fitted a threshold and has a model: the arguments of
    :func:`write_threshold` (``model``, ``threshold``, ``source``, ``calibration``, ``metrics``)."""
    cfg = results["config"]
    if not cfg.get("calibrate_on"):
        raise ConfigError("this run fitted no threshold: use --calibrate-on SPLIT")
    data = "; ".join(results["dataset"]["specs"])
    out = []
    for det in results["detectors"]:
        cal = det.get("calibration")
        if det.get("status") != "ok" or not det.get("model") or not cal or cal.get("threshold") is None:
            continue
        method = cal["method"]
        source = (f"synthwatch eval {results['created_at']}: {method} threshold fitted on split "
                  f"{cal['split']!r} of {data} ({cal['n_real']} real, {cal['n_fake']} fake items; on that split "
                  f"FPR {cal['fpr_on_fit']:.4f}, TPR {cal['tpr_on_fit']:.4f}); command: {results.get('command') or '?'}")
        calibration = {"method": method, "split": cal["split"], "data": results["dataset"]["specs"],
                       "n_real": cal["n_real"], "n_fake": cal["n_fake"], "fpr_on_fit": cal["fpr_on_fit"],
                       "tpr_on_fit": cal["tpr_on_fit"], "target_fpr": cal.get("target_fpr"),
                       "detector": det["name"], "detector_version": det["version"],
                       "results": results_path, "command": results.get("command")}
        metrics = []
        clean = next((c for c in det["conditions"] if c["condition"] == "clean"), None)
        m = (clean or {}).get("item_level") or {}
        reported = f"{data} (items not in split {cal['split']!r})"
        src = f"synthwatch eval {results['created_at']}, measured on items not used for calibration"
        fit = (m.get("at_threshold") or {}).get("fitted") or {}
        for metric, value in (("EER", (m.get("eer") or {}).get("value")), ("ROC AUC", (m.get("auc") or {}).get("value")),
                              ("accuracy at the fitted threshold", fit.get("accuracy")),
                              ("FPR at the fitted threshold", fit.get("fpr")),
                              ("recall at the fitted threshold", fit.get("recall"))):
            if value is not None:
                metrics.append({"metric": metric, "value": value, "dataset": reported, "source": src,
                                "command": results.get("command") or ""})
        out.append({"model": det["model"], "detector": det["name"], "threshold": cal["threshold"], "source": source,
                    "calibration": calibration, "metrics": metrics})
    return out
