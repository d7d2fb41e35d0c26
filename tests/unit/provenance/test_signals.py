"""inspect(): every signal of a file plus the decision, as a JSON-able dict that never raises on bad input."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest
from PIL import Image
from prov_media import EXISTING_XMP, copy

from synthwatch.provenance import AIGCLabel, inspect, read_signals, write_label
from synthwatch.provenance.signals import generator_name, iptc_class
from synthwatch.types import Verdict, VerdictLabel

LABEL = AIGCLabel.as_producer("1", "PROD", "i1")
IPTC_AI = ('<rdf:Description rdf:about="" xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/" '
           'Iptc4xmpExt:DigitalSourceType="http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"/>')


def test_plain_file_has_no_signal(media: dict[str, Path]) -> None:
    out = inspect(media["png"])
    json.dumps(out)
    assert out["schema"] == "synthwatch.provenance/1" and out["format"] == "png"
    assert out["aigc"]["present"] is False and out["errors"] == []
    assert out["decision"]["label"] is None and out["decision"]["rule"] == "none"


def test_labelled_file_decides_case_1(media: dict[str, Path], tmp_path: Path) -> None:
    for name in ("jpeg", "mp4", "wav"):
        out_path = tmp_path / f"l{media[name].suffix}"
        write_label(media[name], out_path, LABEL)
        out = inspect(out_path)
        assert out["aigc"]["valid"] and out["aigc"]["label"]["fields"]["ContentProducer"] == "PROD"
        assert out["decision"]["label"] == "1" and out["decision"]["rule"] == "art6.1-implicit-label"
        assert out["decision"]["write_propagator"] is True


def test_generator_traces_exif_and_png_parameters(media: dict[str, Path]) -> None:
    jpeg = read_signals(media["jpeg_xmp"])
    assert jpeg["exif"]["Software"] == "Stable Diffusion"
    assert jpeg["xmp"]["creator_tool"] == ["TestCam 1.0"]
    assert [t["source"] for t in jpeg["generator_traces"]] == ["exif:Software"]
    png = inspect(media["png_xmp"])
    assert png["png_text"]["parameters"].startswith("a cat")
    assert png["generator_traces"][0]["source"] == "png:text:parameters"
    assert png["decision"]["label"] == "3" and png["decision"]["rule"] == "art6.3-generator-trace"


def test_iptc_digital_source_type(media: dict[str, Path], tmp_path: Path) -> None:
    p = tmp_path / "iptc.jpg"
    xmp = EXISTING_XMP.replace("</rdf:RDF>", IPTC_AI + "</rdf:RDF>")
    Image.open(media["jpeg"]).save(p, xmp=xmp.encode())
    out = inspect(p)
    assert out["iptc"]["class"] == "ai"
    assert out["decision"]["rule"] == "art6.3-iptc"


def test_declaration_and_verdict_reach_the_decision(media: dict[str, Path]) -> None:
    assert inspect(media["wav"], declared_ai=True)["decision"]["label"] == "2"
    synth = Verdict(VerdictLabel.LIKELY_SYNTHETIC, 0.93, 0.5, "fusion")
    d = inspect(media["wav"], verdict=synth)["decision"]
    assert (d["label"], d["rule"]) == ("3", "art6.3-detector")


def test_hostile_label_is_recorded_not_raised(media: dict[str, Path], tmp_path: Path) -> None:
    from test_xmp import BILLION_LAUGHS

    data = media["jpeg"].read_bytes()
    payload = b"http://ns.adobe.com/xap/1.0/\x00" + BILLION_LAUGHS
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(data[:2] + b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload + data[2:])
    out = inspect(bad)
    json.dumps(out)
    assert out["aigc"]["error"]["code"] == "xml_unsafe"
    assert any(e["code"] == "xml_unsafe" for e in out["errors"])
    assert out["decision"]["human_review"] is True


def test_duplicate_labels_are_not_valid(media: dict[str, Path], tmp_path: Path) -> None:
    from mutagen.flac import FLAC

    dup = copy(media["flac"], tmp_path / "dup.flac")
    f = FLAC(dup)
    f.tags.append(("AIGC", LABEL.to_json()))  # type: ignore[union-attr]
    f.tags.append(("AIGC", LABEL.to_json()))  # type: ignore[union-attr]
    f.save()
    out = inspect(dup)
    assert out["aigc"]["count"] == 2 and out["aigc"]["valid"] is False
    assert out["aigc"]["error"]["code"] == "label_duplicate"
    assert out["decision"]["label"] == "3"


def test_formats_without_carrier_and_junk(tmp_path: Path) -> None:
    gif = tmp_path / "a.gif"
    Image.new("RGB", (8, 8)).save(gif)
    out = inspect(gif)
    assert out["format"] == "gif" and "no AIGC label carrier" in out["aigc"]["reason"]
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"\x00junk" * 100)
    out = inspect(junk)
    assert out["format"] is None and out["errors"][0]["where"] == "sniff"
    assert out["decision"]["label"] is None


@pytest.mark.parametrize(("values", "cls"), [
    (["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"], "ai"),
    (["http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture",
      "http://cv.iptc.org/newscodes/digitalsourcetype/compositeSynthetic"], "possibly_ai"),
    (["digitalCapture"], "capture"),
    (["something"], None),
])
def test_iptc_class(values: list[str], cls: str | None) -> None:
    assert iptc_class(values) == cls


@pytest.mark.parametrize(("text", "hit"), [("Stable Diffusion XL", True), ("Adobe Photoshop 25.0", False),
                                           ("Midjourney v6", True), ("Influx camera", False), ("即梦AI", True)])
def test_generator_names(text: str, hit: bool) -> None:
    assert (generator_name(text) is not None) is hit
