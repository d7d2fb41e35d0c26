"""Metrics against hand-computed cases, brute force and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from synthwatch.errors import ConfigError
from synthwatch.evaluate import metrics as M


@pytest.fixture(scope="module")
def skm():  # type: ignore[no-untyped-def]
    """scikit-learn's metrics (the reference; these tests skip without it)."""
    return pytest.importorskip("sklearn.metrics", reason="scikit-learn is the reference for these comparisons")

# the scikit-learn documentation's example: reals 0.1, 0.4; fakes 0.35, 0.8
Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def _random_sets(n_sets: int = 60, seed: int = 0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    for k in range(n_sets):
        n = int(rng.integers(4, 80))
        y = rng.integers(0, 2, n)
        y[:2] = [0, 1]
        s = rng.normal(0, 1, n) + 0.8 * y
        if k % 3 == 0:
            s = np.round(s, 1)  # many ties
        yield y, s


# ---------------------------------------------------------------------------------------- by hand
def test_hand_computed_example() -> None:
    assert M.roc_auc(Y, S) == pytest.approx(0.75)
    assert M.average_precision(Y, S) == pytest.approx(0.5 * 1.0 + 0.5 * (2 / 3))
    e, thr = M.eer(Y, S)
    # points (FPR, FNR): (0, 1) (0, .5) (.5, .5) (.5, 0) (1, 0): |FNR - FPR| is 0 at threshold 0.4
    assert e == pytest.approx(0.5)
    assert thr == pytest.approx((0.4 + 0.35) / 2)
    tpr, thr1 = M.tpr_at_fpr(Y, S, 0.01)
    assert tpr == pytest.approx(0.5) and thr1 == pytest.approx((0.8 + 0.4) / 2)
    op = M.at_threshold(Y, S, 0.5)
    assert (op.tp, op.fp, op.tn, op.fn) == (1, 0, 2, 1)
    assert op.accuracy == 0.75 and op.precision == 1.0 and op.recall == 0.5 and op.fpr == 0.0
    assert op.balanced_accuracy == 0.75 and op.f1 == pytest.approx(2 / 3)
    # a score equal to the threshold is called fake
    assert M.at_threshold(Y, S, 0.4).fp == 1
    # 15 bins: each score alone in its bin: (|0-.1| + |0-.4| + |1-.35| + |1-.8|) / 4
    assert M.expected_calibration_error(Y, S) == pytest.approx(1.35 / 4)


def test_ece_pools_a_bin() -> None:
    # two items in bin [0.6, 0.7): mean score .65, mean label .5; one item in the last bin
    y = np.array([0, 1, 1])
    s = np.array([0.6, 0.7 - 1e-9, 1.0])
    assert M.expected_calibration_error(y, s, n_bins=10) == pytest.approx((2 * abs(0.5 - 0.65) + 0.0) / 3)
    rel = M.reliability(y, s, n_bins=10)
    assert [r["n"] for r in rel] == [2, 1]
    assert M.expected_calibration_error([0, 1], [0.0, 1.0]) == 0.0


def test_min_tdcf_hand_computed() -> None:
    pfa, pmiss, pmiss_spoof = 0.05, 0.05, 0.4
    c1 = 0.95 * 0.99 * (1 - 0.05) - 0.95 * 0.01 * 10 * 0.05
    c2 = 10 * 0.05 * (1 - 0.4)
    # (FPR = bona fide rejected, FNR = spoof accepted) at the operating points of Y, S
    points = [(0, 1), (0, 0.5), (0.5, 0.5), (0.5, 0), (1, 0)]
    expected = min((c1 * f + c2 * m) / min(c1, c2) for f, m in points)
    value, thr = M.min_tdcf(Y, S, pfa, pmiss, pmiss_spoof)
    assert value == pytest.approx(expected) == pytest.approx(0.5)
    assert thr == pytest.approx(0.6)
    with pytest.raises(ConfigError):
        M.min_tdcf(Y, S, pfa_asv=0.9, pmiss_asv=0.99, pmiss_spoof_asv=0.1)  # C1 < 0


def test_min_dcf_hand_computed() -> None:
    # ASVspoof 5 cost: (1 * .95 * FPR + 10 * .05 * FNR) / min(.95, .5) = 1.9 FPR + FNR
    points = [(0, 1), (0, 0.5), (0.5, 0.5), (0.5, 0), (1, 0)]
    value, thr = M.min_dcf(Y, S)
    assert value == pytest.approx(min(1.9 * f + m for f, m in points)) == pytest.approx(0.5)
    assert thr == pytest.approx(0.6)


def test_asv_error_rates_at_the_asv_eer_threshold() -> None:
    tar = np.array([2.0, 3.0, 4.0, 0.5])
    non = np.array([-1.0, 0.0, 1.0, 3.5])
    spoof = np.array([1.5, 2.5, -2.0, 5.0])
    pfa, pmiss, pmiss_spoof = M.asv_error_rates(tar, non, spoof)
    # EER point: accept >= 2.0 ... the midpoint threshold between 1.0 and 2.0 -> 1.5
    assert (pfa, pmiss) == (0.25, 0.25)
    assert pmiss_spoof == 0.25  # only -2.0 is below 1.5
    with pytest.raises(ConfigError):
        M.asv_error_rates(tar, non, [])


def _brute(y: np.ndarray, s: np.ndarray):  # type: ignore[no-untyped-def]
    """(FPR, FNR) at every candidate threshold, by direct counting."""
    out = []
    for t in [np.inf, *sorted(set(s.tolist()), reverse=True)]:
        pred = s >= t
        out.append((float(np.mean(pred[y == 0])), float(np.mean(~pred[y == 1]))))
    return out


def test_eer_tdcf_and_dcf_match_brute_force() -> None:
    for y, s in _random_sets():
        pts = _brute(y, s)
        gaps = [abs(m - f) for f, m in pts]
        k = int(np.argmin(gaps))
        assert M.eer(y, s)[0] == pytest.approx((pts[k][0] + pts[k][1]) / 2)
        c1 = 0.9405 * (1 - 0.02) - 0.0095 * 10 * 0.03
        c2 = 0.5 * (1 - 0.3)
        assert M.min_tdcf(y, s, 0.03, 0.02, 0.3)[0] == pytest.approx(min((c1 * f + c2 * m) / min(c1, c2) for f, m in pts))
        assert M.min_dcf(y, s)[0] == pytest.approx(min((0.95 * f + 0.5 * m) / 0.5 for f, m in pts))


# ---------------------------------------------------------------------------------------- sklearn
def test_roc_auc_ap_and_curve_match_scikit_learn(skm) -> None:  # type: ignore[no-untyped-def]
    for y, s in _random_sets():
        assert M.roc_auc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
        assert M.average_precision(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
        fpr, tpr, thr = skm.roc_curve(y, s, drop_intermediate=False)
        f2, t2, th2 = M.roc_curve(y, s)
        np.testing.assert_allclose(f2, fpr)
        np.testing.assert_allclose(t2, tpr)
        np.testing.assert_allclose(th2[1:], thr[1:])


def test_rates_at_threshold_match_scikit_learn(skm) -> None:  # type: ignore[no-untyped-def]
    for y, s in _random_sets(20):
        t = float(np.median(s))
        pred = (s >= t).astype(int)
        op = M.at_threshold(y, s, t)
        assert op.accuracy == pytest.approx(skm.accuracy_score(y, pred))
        assert op.recall == pytest.approx(skm.recall_score(y, pred))
        assert op.precision == pytest.approx(skm.precision_score(y, pred, zero_division=np.nan), nan_ok=True)
        assert op.balanced_accuracy == pytest.approx(skm.balanced_accuracy_score(y, pred))
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        assert (op.tn, op.fp, op.fn, op.tp) == (tn, fp, fn, tp)


def test_eer_and_tpr_at_fpr_from_scikit_learn_roc_points(skm) -> None:  # type: ignore[no-untyped-def]
    for y, s in _random_sets(30, seed=3):
        fpr, tpr, _ = skm.roc_curve(y, s, drop_intermediate=False)
        k = int(np.argmin(np.abs((1 - tpr) - fpr)))
        assert M.eer(y, s)[0] == pytest.approx(((1 - tpr[k]) + fpr[k]) / 2)
        for target in (0.01, 0.1, 0.3):
            assert M.tpr_at_fpr(y, s, target)[0] == pytest.approx(tpr[fpr <= target].max())


# ---------------------------------------------------------------------------------------- thresholds
def test_fit_threshold_eer_and_target_fpr() -> None:
    fitted = M.fit_threshold(Y, S, "eer")
    assert fitted.threshold == pytest.approx(0.375) and fitted.method == "eer"
    assert (fitted.fpr, fitted.tpr, fitted.n_real, fitted.n_fake) == (0.5, 0.5, 2, 2)
    fpr_fit = M.fit_threshold(Y, S, "fpr:0.01")
    assert fpr_fit.threshold == pytest.approx(0.6) and fpr_fit.target_fpr == 0.01 and fpr_fit.fpr == 0.0
    assert M.parse_method("fpr:1%") == ("fpr", 0.01)
    # the fitted threshold reproduces the chosen operating point on the fitting data
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    s = rng.normal(0, 1, 300) + 1.5 * y
    f = M.fit_threshold(y, s, "fpr:0.05")
    op = M.at_threshold(y, s, f.threshold)
    assert op.fpr == pytest.approx(f.fpr) and op.fpr <= 0.05 and op.recall == pytest.approx(f.tpr)
    for bad in ("youden", "fpr:2", "fpr:x"):
        with pytest.raises(ConfigError):
            M.fit_threshold(Y, S, bad)
    with pytest.raises(ConfigError, match="both real and fake"):
        M.fit_threshold([1, 1], [0.2, 0.3])


def test_single_class_gives_nan_not_errors() -> None:
    assert math.isnan(M.roc_auc([1, 1, 1], [0.1, 0.2, 0.3]))
    assert math.isnan(M.eer([0, 0], [0.1, 0.2])[0])
    assert math.isnan(M.average_precision([0, 0], [0.1, 0.2]))
    s = M.summary([1, 1, 1], [0.6, 0.7, 0.2], thresholds={"card": 0.5}, n_boot=50)
    assert math.isnan(s["auc"]["value"]) and s["at_threshold"]["card"]["recall"] == pytest.approx(2 / 3)


def test_inputs_are_validated() -> None:
    with pytest.raises(ConfigError):
        M.roc_auc([0, 2], [0.1, 0.2])
    with pytest.raises(ConfigError):
        M.roc_auc([0, 1], [0.1, np.nan])
    with pytest.raises(ConfigError):
        M.roc_auc([0, 1, 1], [0.1, 0.2])


# ---------------------------------------------------------------------------------------- bootstrap
def test_bootstrap_is_seeded_stratified_and_equals_explicit_resampling(skm) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(7)
    y = np.r_[np.zeros(40, int), np.ones(25, int)]
    s = rng.normal(0, 1, 65) + 1.2 * y
    a = M.bootstrap_ci(y, s, n_boot=300, seed=5)
    b = M.bootstrap_ci(y, s, n_boot=300, seed=5)
    assert a == b
    assert a != M.bootstrap_ci(y, s, n_boot=300, seed=6)
    assert a["auc"][0] < M.roc_auc(y, s) < a["auc"][1]
    assert a["eer"][0] < M.eer(y, s)[0] < a["eer"][1]
    # the same draws, done the slow way with scikit-learn: reals and fakes resampled separately
    order = np.argsort(-s, kind="mergesort")
    pos, neg = order[y[order] == 1], order[y[order] == 0]
    r = np.random.default_rng(5)
    aucs, aps = [], []
    for _ in range(300):
        idx = np.r_[pos[r.integers(0, pos.size, pos.size)], neg[r.integers(0, neg.size, neg.size)]]
        aucs.append(skm.roc_auc_score(y[idx], s[idx]))
        aps.append(skm.average_precision_score(y[idx], s[idx]))
    assert a["auc"] == pytest.approx(tuple(np.percentile(aucs, [2.5, 97.5])))
    assert a["ap"] == pytest.approx(tuple(np.percentile(aps, [2.5, 97.5])))


def test_bootstrap_keeps_both_classes_even_with_one_real() -> None:
    ci = M.bootstrap_ci([0, 1, 1, 1, 1], [0.5, 0.1, 0.6, 0.7, 0.9], n_boot=200, seed=0)
    assert all(math.isfinite(v) for v in ci["auc"])
    assert all(math.isnan(v) for v in M.bootstrap_ci([1, 1], [0.1, 0.2], n_boot=10)["auc"])


def test_summary_reports_resolvability_and_cost_metrics() -> None:
    rng = np.random.default_rng(2)
    y = np.r_[np.zeros(150, int), np.ones(60, int)]
    s = 1 / (1 + np.exp(-(rng.normal(0, 1, 210) + 2 * y)))
    out = M.summary(y, s, thresholds={"card": 0.5, "fitted": 0.6}, n_boot=100,
                    dcf=M.ASVSPOOF5_DCF_COST_MODEL, tdcf_asv=(0.02, 0.02, 0.3))
    assert out["n_real"] == 150 and out["n_fake"] == 60
    assert out["tpr_at_fpr"]["0.01"]["resolvable"] is True  # 150 reals: FPR steps of 0.0067
    assert out["tpr_at_fpr"]["0.001"]["resolvable"] is False
    assert set(out["at_threshold"]) == {"card", "fitted"}
    assert out["min_dcf"]["value"] == pytest.approx(M.min_dcf(y, s)[0])
    assert out["min_tdcf"]["value"] == pytest.approx(M.min_tdcf(y, s, 0.02, 0.02, 0.3)[0])
    assert out["ece"]["value"] == pytest.approx(M.expected_calibration_error(y, s))


# ---------------------------------------------------------------------------------------- groups
def test_group_aggregation_by_explicit_ids() -> None:
    groups = ["v1", "v1", "v2", "v3", "v3", "v3"]
    y = [0, 0, 1, 1, 1, 1]
    s = [0.2, 0.4, 0.9, 0.1, 0.5, 0.9]
    ids, gy, gs, sizes = M.aggregate_groups(groups, y, s, "mean")
    assert ids == ["v1", "v2", "v3"]
    assert gy.tolist() == [0, 1, 1] and sizes.tolist() == [2, 1, 3]
    assert gs.tolist() == pytest.approx([0.3, 0.9, 0.5])
    assert M.aggregate_groups(groups, y, s, "max")[2].tolist() == pytest.approx([0.4, 0.9, 0.9])
    assert M.aggregate([0.1, 0.2, 0.3, 0.4, 0.9], "topq") == pytest.approx((0.4 + 0.9) / 2)
    with pytest.raises(ConfigError, match="mixes"):
        M.aggregate_groups(["a", "a"], [0, 1], [0.1, 0.2])
    with pytest.raises(ConfigError):
        M.aggregate([0.1], "mode")
