"""The evaluation harness: measure synthwatch's detectors the way the research field does.

::

    from synthwatch.evaluate import EvalConfig, load_dataset, parse_conditions, run_eval, write_outputs

    data = load_dataset(["speech-demos/hifi-gan-demo?split=val", "manifest.csv?split=test"])
    cfg = EvalConfig(detectors=["aasist"], conditions=parse_conditions("mp3:64k,tel8k"),
                     calibrate_on="val")
    run = run_eval(data, cfg, store=ModelStore(settings.model_dir))
    write_outputs(run, "out/")          # results.json, scores.csv, report.md, report.html, plots/

Modules: :mod:`~synthwatch.evaluate.data` (dataset adapters), :mod:`~synthwatch.evaluate.metrics`
(ROC AUC, EER, AP, TPR at FPR, bootstrap CIs, ECE, min t-DCF / min DCF, threshold fitting, group
aggregation), :mod:`~synthwatch.evaluate.perturb` (codecs, telephone band, noise, reverb, JPEG,
resize, crop, social chain, H.264 re-encode, downscale), :mod:`~synthwatch.evaluate.runner` (the
run), :mod:`~synthwatch.evaluate.report` and :mod:`~synthwatch.evaluate.plots` (outputs and
``compare``), :mod:`~synthwatch.evaluate.cards` (write a fitted threshold into a model card).
The ``results.json`` schema (``synthwatch.eval/1``) is documented in ``docs/eval-schema.md``.
"""

from __future__ import annotations

from .data import Dataset, EvalItem, Problem, load_dataset, load_spec
from .perturb import CLEAN, Condition, parse_condition, parse_conditions
from .report import compare_results, load_results, write_outputs
from .runner import RESULTS_SCHEMA, EvalConfig, EvalRun, ItemScore, run_eval

__all__ = [
    "RESULTS_SCHEMA",
    "EvalItem",
    "Problem",
    "Dataset",
    "load_dataset",
    "load_spec",
    "Condition",
    "CLEAN",
    "parse_condition",
    "parse_conditions",
    "EvalConfig",
    "EvalRun",
    "ItemScore",
    "run_eval",
    "write_outputs",
    "load_results",
    "compare_results",
]
