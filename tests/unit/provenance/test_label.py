"""The AIGC label model: canonical form, strict Annex E validation, lenient reading of wild variants."""

from __future__ import annotations

import json

import pytest

from synthwatch.errors import SynthwatchError
from synthwatch.provenance.errors import LabelEncodingError, LabelError, LabelTooLarge
from synthwatch.provenance.label import MAX_LABEL_BYTES, AIGCLabel, parse_label, validate_label

GOOD = {"AIGC": {"Label": "1", "ContentProducer": "001191110102MAD55U9H0F10002", "ProduceID": "a1b2c3",
                 "ReservedCode1": "", "ContentPropagator": "", "PropagateID": "", "ReservedCode2": ""}}


def codes(data: object) -> set[str]:
    return {d.code for d in parse_label(data).deviations}  # type: ignore[arg-type]


def test_canonical_label_is_valid_and_round_trips() -> None:
    text = json.dumps(GOOD, separators=(",", ":"))
    reading = parse_label(text)
    assert reading.valid and reading.deviations == ()
    assert reading.label.label == "1" and reading.label.meaning == "ai_generated"
    assert reading.label.to_json() == text
    assert parse_label(reading.label.to_json()).label == reading.label
    assert validate_label(text) == []
    assert reading.security.present is False


def test_producer_helper_copies_fields_and_propagator_keeps_producer() -> None:
    lab = AIGCLabel.as_producer("1", "PROD", "p1")
    assert (lab.content_propagator, lab.propagate_id) == ("PROD", "p1")
    moved = lab.with_propagator("PLAT", "x9")
    assert (moved.content_producer, moved.produce_id) == ("PROD", "p1")
    assert (moved.content_propagator, moved.propagate_id) == ("PLAT", "x9")
    assert moved.check() == []


@pytest.mark.parametrize(
    ("variant", "expected_codes", "label"),
    [
        ({"AIGC": {**GOOD["AIGC"], "Label": "AIGC"}}, {"label_value_invalid"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "Label": 1}}, {"value_not_string"}, "1"),
        ({"aigc": {k.lower(): v for k, v in GOOD["AIGC"].items()}}, {"aigc_key_case", "field_key_case"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "ContentProducer": " 001191 "}}, {"value_whitespace"}, "1"),
        ({"AIGC": json.dumps(GOOD["AIGC"])}, {"json_string"}, "1"),
        (GOOD["AIGC"], {"aigc_key_missing"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "Label": "3", "Extra": "x"}}, {"field_unknown"}, "3"),
        ({"AIGC": {"Label": "2", "ContentPropagator": "PLAT", "PropagateID": "q"}}, {"field_missing"}, "2"),
        ({"AIGC": {**GOOD["AIGC"], "ContentProducer": "某公司"}}, {"value_not_printable_ascii"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "ProduceID": 'a"b'}}, {"value_quote_or_backslash"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "ProduceID": ""}}, {"id_missing"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "ContentProducer": "", "ProduceID": ""}}, {"no_provider"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "Label": "9"}}, {"label_value_invalid"}, "9"),
        ({"AIGC": GOOD["AIGC"], "Other": 1}, {"extra_top_level_key"}, "1"),
        ({"AIGC": {**GOOD["AIGC"], "Label": None}}, {"value_not_string", "label_value_invalid"}, ""),
    ],
)
def test_wild_variants_are_read_and_each_deviation_named(variant: object, expected_codes: set[str],
                                                          label: str) -> None:
    reading = parse_label(json.dumps(variant, ensure_ascii=False))
    found = {d.code for d in reading.deviations}
    assert expected_codes <= found, found
    assert not reading.valid
    assert reading.label.label == label
    assert all(d.message for d in reading.deviations)


def test_whitespace_bom_and_double_encoding_are_tolerated() -> None:
    text = "\ufeff  " + json.dumps(json.dumps(GOOD)) + "\n\x00"
    reading = parse_label(text.encode())
    assert reading.label.content_producer == GOOD["AIGC"]["ContentProducer"]
    assert {"bom", "json_string"} <= {d.code for d in reading.deviations}


def test_html_escaped_label_from_a_careless_xmp_writer() -> None:
    reading = parse_label(json.dumps(GOOD).replace('"', "&quot;"))
    assert reading.label.label == "1"
    assert "html_escaped" in {d.code for d in reading.deviations}


def test_duplicate_json_keys_are_reported() -> None:
    text = '{"AIGC":{"Label":"1","Label":"2","ContentProducer":"P","ProduceID":"i","ReservedCode1":"",' \
           '"ContentPropagator":"","PropagateID":"","ReservedCode2":""}}'
    reading = parse_label(text)
    assert reading.label.label == "1"
    assert "field_duplicate" in {d.code for d in reading.deviations}


@pytest.mark.parametrize("bad", ["", "   ", "not json", "[1,2]", '{"foo":"bar"}', '{"AIGC":5}', '{"AIGC":"[1]"}',
                                 '{"AIGC":{"Label":"1"}', "NaN", '{"AIGC":{"Label":NaN}}'])
def test_unreadable_labels_raise_label_error(bad: str) -> None:
    with pytest.raises(LabelError):
        parse_label(bad)


def test_typed_errors_for_hostile_input() -> None:
    with pytest.raises(LabelEncodingError):
        parse_label(b'{"AIGC":{"Label":"\xff\xfe"}}')
    with pytest.raises(LabelTooLarge) as exc:
        parse_label(b'{"AIGC":{"Label":"1","ReservedCode1":"' + b"A" * MAX_LABEL_BYTES + b'"}}')
    assert exc.value.maximum == MAX_LABEL_BYTES
    with pytest.raises(LabelError):
        parse_label("[" * 100000 + "]" * 100000)
    with pytest.raises(LabelError):
        parse_label('{"AIGC":{"Label":"1\x00"}}')
    # every one is a SynthwatchError, so the CLI and service map it
    assert issubclass(LabelTooLarge, SynthwatchError)


def test_security_data_is_reported_but_not_claimed_verified() -> None:
    import base64

    block = base64.b64encode(b'{"SecurityData":{"sig":"00"}}').decode()
    reading = parse_label({"AIGC": {**GOOD["AIGC"], "ReservedCode1": block}})
    assert reading.security.present and reading.security.kind == "SecurityData"
    assert reading.security.verified is None
    opaque = parse_label({"AIGC": {**GOOD["AIGC"], "ReservedCode2": "abc123"}})
    assert opaque.security.present and opaque.security.kind == "opaque"


def test_check_refuses_what_a_writer_must_not_write() -> None:
    assert {d.code for d in AIGCLabel("4", "P", "i").check()} == {"label_value_invalid"}
    assert "value_not_printable_ascii" in {d.code for d in AIGCLabel("1", "P Q", "i").check()}
    assert "no_provider" in {d.code for d in AIGCLabel("1").check()}


def test_to_dict_is_json_able() -> None:
    d = parse_label({"AIGC": {**GOOD["AIGC"], "Label": "AIGC"}}).to_dict()
    json.dumps(d)
    assert d["valid"] is False and d["label"] == "1" and d["deviations"][0]["code"] == "label_value_invalid"
