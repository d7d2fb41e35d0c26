"""Properties of the hand-written provenance parsers, over arbitrary and mutated input: the label
carriers, the XMP and EXIF readers, the label parser and SecurityData. Whatever the bytes, each
either returns a result or raises one of synthwatch's typed errors; what is written reads back."""

from __future__ import annotations

import contextlib
import json
import shutil
import string
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from synthwatch.errors import SynthwatchError
from synthwatch.provenance import security_data
from synthwatch.provenance.aigc_label import read_labels, write_label
from synthwatch.provenance.carriers import exif, images
from synthwatch.provenance.errors import LabelError, ProvenanceError
from synthwatch.provenance.label import AIGCLabel, LabelReading, parse_label
from synthwatch.provenance.xmp import merge_label, parse_xmp

FAST = settings(max_examples=120, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
FILES = settings(max_examples=60, deadline=None, database=None,
                 suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
SLOW = settings(max_examples=6, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

#: printable ASCII without quote and backslash: what Annex E allows in a field
FIELD = st.text(alphabet=[c for c in string.printable[:95] if c not in "\"\\"], max_size=24)


# ----------------------------------------------------------------------------------------------
# the label parser and the image metadata readers on arbitrary input


@FAST
@given(st.one_of(st.binary(max_size=400), st.text(max_size=400)))
def test_parse_label_of_anything(data: bytes | str) -> None:
    try:
        reading = parse_label(data)
    except LabelError:
        return
    assert isinstance(reading, LabelReading)
    json.dumps(reading.to_dict())  # always JSON-able


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=12), kids, max_size=5),
                    max_leaves=25)


@FAST
@given(st.dictionaries(st.sampled_from(["AIGC", "aigc", "Label", "ContentProducer", "ProduceID", "ReservedCode1",
                                        "x"]), JSON, max_size=5))
def test_parse_label_of_any_json_object(obj: dict[str, object]) -> None:
    for data in (obj, json.dumps(obj), json.dumps({"AIGC": obj})):
        try:
            reading = parse_label(data)  # type: ignore[arg-type]
        except LabelError:
            continue
        json.dumps(reading.to_dict())


@FAST
@given(st.binary(max_size=600))
def test_image_readers_of_any_bytes(data: bytes) -> None:
    for prefix in (b"\xff\xd8", images.PNG_SIG, b"RIFF\x00\x01\x00\x00WEBP", b""):
        blob = prefix + data
        for reader in (images.read_jpeg, images.read_png, images.read_webp):
            try:
                meta = reader(blob)
            except ProvenanceError:
                continue
            assert all(isinstance(p, bytes) for p in meta.xmp)


@FAST
@given(st.binary(max_size=300))
def test_exif_of_any_bytes(data: bytes) -> None:
    for blob in (data, b"II*\x00\x08\x00\x00\x00" + data, b"MM\x00*\x00\x00\x00\x08" + data):
        assert all(isinstance(v, str) for v in exif.exif_strings(blob).values())


@FAST
@given(st.binary(max_size=500))
def test_xmp_of_any_bytes(data: bytes) -> None:
    packet = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
    for blob in (data, packet + data, packet + data + b"</rdf:RDF></x:xmpmeta>"):
        try:
            parse_xmp(blob)
        except ProvenanceError:
            continue


@FAST
@given(st.text(max_size=200))
def test_xmp_write_escapes_any_label_text(text: str) -> None:
    assume("\x00" not in text)
    label = json.dumps({"AIGC": {"Label": "1", "ContentProducer": text}}, ensure_ascii=False)
    try:
        packet = merge_label(None, label)
    except ProvenanceError:
        return
    (found,) = parse_xmp(packet).labels
    assert found.text == label  # markup in the text stays text: nothing else is added to the packet


# ----------------------------------------------------------------------------------------------
# SecurityData


@FAST
@given(st.text(max_size=300))
def test_decode_block_of_any_text(value: str) -> None:
    out = security_data.decode_block(value)
    assert out is None or isinstance(out, dict)


@FAST
@given(st.text(max_size=200), st.text(max_size=200))
def test_verify_any_reserved_codes(code1: str, code2: str) -> None:
    info = security_data.verify_label(AIGCLabel("1", "P", "id", code1, "Q", "id2", code2))
    assert info.verified is not True  # nothing unsigned ever verifies
    json.dumps(info.to_dict())


@pytest.fixture(scope="module")
def sm2_key() -> security_data.SM2Key:
    return security_data.generate_sm2_key()


@SLOW
@given(FIELD, FIELD, FIELD, st.sampled_from(["1", "2", "3"]), st.sampled_from(["producer", "propagator"]), FIELD)
def test_security_data_signs_and_detects_any_change(sm2_key: security_data.SM2Key, producer: str, pid: str,
                                                   propagator: str, value: str, scope: str, other: str) -> None:
    label = AIGCLabel(value, producer, pid, "", propagator, "x1", "")
    signed = security_data.sign_label(label, sm2_key, scope=scope)
    info = security_data.verify_label(signed, trusted_keys=[sm2_key.public_key])
    assert info.verified is True and info.blocks[0]["trusted"] is True
    covered = "content_producer" if scope == "producer" else "content_propagator"
    assume(getattr(signed, covered) != other)
    from dataclasses import replace

    tampered = replace(signed, **{covered: other})
    assert security_data.verify_label(tampered).verified is False


# ----------------------------------------------------------------------------------------------
# the file carriers on mutated, labelled files

CARRIER_FILES = ["jpeg", "png", "webp", "mp4", "mkv", "webm", "mp3", "wav", "flac", "ogg", "opus", "m4a"]
LABEL = AIGCLabel.as_producer("1", "Producer<b>[/]", "id-1")


@pytest.fixture(scope="module")
def labelled(media: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("labelled")
    out = {}
    for name in CARRIER_FILES:
        dst = d / media[name].name
        write_label(media[name], dst, LABEL, allow_invalid=True)
        out[name] = dst
    return out


MUTATION = st.one_of(
    st.tuples(st.just("truncate"), st.floats(min_value=0.0, max_value=1.0), st.just(b"")),
    st.tuples(st.just("overwrite"), st.floats(min_value=0.0, max_value=1.0), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("extreme"), st.floats(min_value=0.0, max_value=1.0),
              st.sampled_from([b"\xff\xff\xff\xff", b"\x00\x00\x00\x00", b"\x00\x00\x00\x01", b"\x7f\xff\xff\xff",
                               b"\x01" + b"\xff" * 7, b"\x00\x00\x00\x08"])),
    st.tuples(st.just("insert"), st.floats(min_value=0.0, max_value=1.0), st.binary(min_size=1, max_size=16)),
)


def _mutate(data: bytes, mutations: list[tuple[str, float, bytes]]) -> bytes:
    out = bytearray(data)
    for kind, where, payload in mutations:
        pos = int(where * max(0, len(out) - 1))
        if kind == "truncate":
            del out[pos:]
        elif kind == "insert":
            out[pos:pos] = payload
        else:
            out[pos:pos + len(payload)] = payload
    return bytes(out)


@FILES
@given(st.sampled_from(CARRIER_FILES), st.lists(MUTATION, min_size=1, max_size=3))
def test_mutated_files_give_a_result_or_a_typed_error(labelled: dict[str, Path], name: str,
                                                      mutations: list[tuple[str, float, bytes]]) -> None:
    src = labelled[name]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / src.name
        path.write_bytes(_mutate(src.read_bytes(), mutations))
        try:
            readings = read_labels(path)
        except SynthwatchError:
            readings = None
        if readings is not None:
            for r in readings:
                json.dumps(r.to_dict())
        # rewriting a damaged file: a copy that reads back, or a typed error (never a traceback)
        with contextlib.suppress(SynthwatchError):
            write_label(path, Path(tmp) / ("out" + src.suffix), LABEL, allow_invalid=True)


@pytest.mark.parametrize("name", CARRIER_FILES)
def test_every_carrier_reads_its_label_back(labelled: dict[str, Path], name: str) -> None:
    (reading,) = read_labels(labelled[name])
    assert reading.label == LABEL


def test_names_never_choose_the_carrier(labelled: dict[str, Path], tmp_path: Path) -> None:
    # an Ogg file named .flac (and every other carrier under a wrong name) is read by its content
    for name in ("ogg", "opus", "flac", "mp3", "wav", "mkv", "mp4"):
        wrong = {".ogg": ".flac", ".opus": ".mp3", ".flac": ".ogg"}.get(labelled[name].suffix, ".flac")
        path = shutil.copyfile(labelled[name], tmp_path / f"{name}{wrong}")
        (reading,) = read_labels(path)
        assert reading.label == LABEL
