"""The public surface is pinned: changing it must be a conscious decision."""

import synthwatch

EXPECTED = {
    "__version__", "scan", "Scanner", "Report", "REPORT_SCHEMA", "MediaInfo", "MediaKind", "Segment", "FaceBox",
    "FaceTrack", "DetectorResult", "Verdict", "VerdictLabel", "Settings", "Limits", "Sampling", "get_settings",
    "SynthwatchError", "ConfigError", "MediaError", "UnsupportedMedia", "CorruptMedia", "MediaTooLarge",
    "DecodeTimeout", "DecodeResourceError", "ModelError", "ModelNotInstalled", "ModelIntegrityError",
    "DetectorError", "UnknownDetector",
}


def test_all_is_pinned() -> None:
    assert set(synthwatch.__all__) == EXPECTED
    for name in synthwatch.__all__:
        assert hasattr(synthwatch, name), name


def test_error_tree_is_rooted() -> None:
    for name in synthwatch.__all__:
        obj = getattr(synthwatch, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, synthwatch.SynthwatchError), name
    assert issubclass(synthwatch.MediaTooLarge, synthwatch.MediaError)
    assert issubclass(synthwatch.ModelNotInstalled, synthwatch.ModelError)


def test_import_creates_no_settings_or_engines(monkeypatch) -> None:
    import synthwatch.pipeline.scan as scan_mod

    assert scan_mod._default is None or isinstance(scan_mod._default, synthwatch.Scanner)
