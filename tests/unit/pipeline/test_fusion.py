import math

import pytest

from synthwatch.pipeline import fusion
from synthwatch.types import DetectorResult, DetectorStatus, VerdictLabel


def _res(name: str, score: float | None, thr: float = 0.5, status=DetectorStatus.OK, reason=None):
    return DetectorResult(name, "1", "audio", status, score=score, threshold=thr, reason=reason)


def test_top_quarter_mean_uses_the_highest_quarter() -> None:
    assert fusion.top_quarter_mean([0.1, 0.2, 0.9, 0.8, 0.1, 0.1, 0.1, 0.1]) == pytest.approx(0.85)
    assert fusion.top_quarter_mean([0.3]) == pytest.approx(0.3)
    # 5 items -> ceil(5/4) = 2 highest
    assert fusion.top_quarter_mean([0.0, 0.0, 0.0, 1.0, 0.5]) == pytest.approx(0.75)
    with pytest.raises(ValueError):
        fusion.top_quarter_mean([])


@pytest.mark.parametrize("thr", [0.1, 0.3, 0.5, 0.9])
def test_normalise_puts_threshold_at_half_and_is_monotonic(thr: float) -> None:
    assert fusion.normalise(thr, thr) == pytest.approx(0.5)
    assert fusion.normalise(0.0, thr) == 0.0
    assert fusion.normalise(1.0, thr) == pytest.approx(1.0)
    xs = [i / 50 for i in range(51)]
    ys = [fusion.normalise(x, thr) for x in xs]
    assert all(b >= a for a, b in zip(ys, ys[1:], strict=False))


def test_fuse_takes_the_strongest_evidence_relative_to_each_threshold() -> None:
    # b's 0.3 is above its own threshold 0.2; a's 0.45 is below its threshold 0.5
    v = fusion.fuse([_res("a", 0.45, 0.5), _res("b", 0.3, 0.2)])
    assert v.label == VerdictLabel.LIKELY_SYNTHETIC
    assert "decided by b" in v.basis
    assert v.score == pytest.approx(fusion.normalise(0.3, 0.2))


def test_fuse_labels() -> None:
    assert fusion.fuse([_res("a", 0.05)]).label == VerdictLabel.LIKELY_AUTHENTIC
    assert fusion.fuse([_res("a", 0.4)]).label == VerdictLabel.INCONCLUSIVE
    assert fusion.fuse([_res("a", 0.5)]).label == VerdictLabel.LIKELY_SYNTHETIC


def test_fuse_without_applicable_detectors_is_not_applicable_with_reasons() -> None:
    v = fusion.fuse([_res("a", None, status=DetectorStatus.NOT_APPLICABLE, reason="no speech"),
                     _res("b", None, status=DetectorStatus.NOT_APPLICABLE, reason="model 'x' is not installed")])
    assert v.label == VerdictLabel.NOT_APPLICABLE
    assert v.score is None
    assert "no speech" in v.basis and "not installed" in v.basis
    assert not math.isnan(fusion.FUSED_THRESHOLD)


def test_a_non_deciding_detector_is_reported_but_never_decides() -> None:
    from dataclasses import replace

    coin = replace(_res("coin", 0.99), decides_verdict=False)  # at chance on unseen sources (its card)
    v = fusion.fuse([_res("voice", 0.1), coin])
    assert v.label == VerdictLabel.LIKELY_AUTHENTIC and "coin=0.990" in v.basis and "decided by voice" in v.basis
    alone = fusion.fuse([coin])
    assert alone.label == VerdictLabel.INCONCLUSIVE and alone.score is None and "coin=0.990" in alone.basis
    nothing = fusion.fuse([_res("voice", None, status=DetectorStatus.NOT_APPLICABLE, reason="no speech")])
    assert nothing.label == VerdictLabel.NOT_APPLICABLE


def test_a_card_that_leaves_the_verdict_says_on_what_it_was_measured() -> None:
    """Every packaged card that leaves the verdict says on what it was measured at chance."""
    from synthwatch.detectors.registry import Registry
    from synthwatch.models.card import packaged_card

    reg = Registry()
    leaving = 0
    for name in reg.names():
        model = reg.detector_class(name).info.model
        card = packaged_card(model) if model else None
        if card is not None and card.extra.get("decides_verdict") is False:
            assert len(str(card.extra.get("decides_verdict_basis", ""))) > 40, name
            leaving += 1
    assert leaving >= 1  # clip-probe's card leaves the verdict (at chance on unseen sources)
