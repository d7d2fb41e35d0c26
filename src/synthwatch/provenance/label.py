"""The GB 45438-2025 Annex E implicit label: the ``AIGC`` JSON object.

Reading is lenient and validation is strict: :func:`parse_label` accepts the variants producers
write in the wild (``"Label":"AIGC"``, lower-case keys, numbers instead of strings, stray
whitespace, a double-encoded JSON string, a bare object without the ``AIGC`` wrapper...), turns
them into one normalised :class:`AIGCLabel`, and names every way the input departs from Annex E
as a :class:`Deviation`. A label is *valid* only when there is no deviation at all.

Canonical form (what :meth:`AIGCLabel.to_json` writes)::

    {"AIGC":{"Label":"1","ContentProducer":"...","ProduceID":"...","ReservedCode1":"",
             "ContentPropagator":"...","PropagateID":"...","ReservedCode2":""}}
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field, replace
from typing import Any

from .errors import LabelEncodingError, LabelError, LabelTooLarge
from .security_data import SecurityInfo, verify_label

__all__ = [
    "FIELDS",
    "LABEL_VALUES",
    "LABEL_MEANINGS",
    "LABEL_ALIASES",
    "MAX_LABEL_BYTES",
    "AIGCLabel",
    "Deviation",
    "LabelReading",
    "SecurityInfo",
    "parse_label",
    "validate_label",
]

#: Annex E field names in their canonical order: (JSON key, attribute name)
FIELDS: tuple[tuple[str, str], ...] = (
    ("Label", "label"),
    ("ContentProducer", "content_producer"),
    ("ProduceID", "produce_id"),
    ("ReservedCode1", "reserved_code1"),
    ("ContentPropagator", "content_propagator"),
    ("PropagateID", "propagate_id"),
    ("ReservedCode2", "reserved_code2"),
)
_KEY_BY_NORM = {k.lower(): k for k, _ in FIELDS}
_ATTR_BY_KEY = dict(FIELDS)

LABEL_VALUES = ("1", "2", "3")
LABEL_MEANINGS = {"1": "ai_generated", "2": "possibly_ai_generated", "3": "suspected_ai_generated"}

#: Non-standard ``Label`` values seen in the wild, read as the Annex E value on the right.
#: Data, not logic: extend it when a new producer variant turns up.
LABEL_ALIASES: dict[str, str] = {
    "aigc": "1",
    "ai": "1",
    "ai-generated": "1",
    "ai_generated": "1",
    "aigenerated": "1",
    "ai生成": "1",
    "人工智能生成": "1",
    "生成合成": "1",
    "true": "1",
    "yes": "1",
    "possibly": "2",
    "possibly-ai-generated": "2",
    "可能为ai生成": "2",
    "suspected": "3",
    "suspected-ai-generated": "3",
    "疑似ai生成": "3",
}

#: the largest label text accepted (the JSON itself; ReservedCode fields may carry signatures)
MAX_LABEL_BYTES = 64 * 1024
_MAX_JSON_DEPTH = 16


@dataclass(frozen=True, slots=True)
class Deviation:
    """One way a label departs from GB 45438 Annex E."""

    code: str
    message: str
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "field": self.field, "message": self.message}


@dataclass(frozen=True, slots=True)
class AIGCLabel:
    """One implicit label, normalised. ``label`` is "1", "2", "3" or, when unreadable, the raw text."""

    label: str
    content_producer: str = ""
    produce_id: str = ""
    reserved_code1: str = ""
    content_propagator: str = ""
    propagate_id: str = ""
    reserved_code2: str = ""

    @property
    def meaning(self) -> str | None:
        """``ai_generated`` / ``possibly_ai_generated`` / ``suspected_ai_generated``, or None."""
        return LABEL_MEANINGS.get(self.label)

    def fields(self) -> dict[str, str]:
        """The seven Annex E fields under their JSON keys, in canonical order."""
        return {key: getattr(self, attr) for key, attr in FIELDS}

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"AIGC": self.fields()}

    def to_json(self) -> str:
        """Canonical compact JSON; every value is a string, nothing else is added."""
        return json.dumps(self.to_dict(), ensure_ascii=True, separators=(",", ":"))

    def check(self) -> list[Deviation]:
        """Strict Annex E checks on this label's values (what a writer must not produce)."""
        devs: list[Deviation] = []
        for key, attr in FIELDS:
            devs.extend(_check_value(key, getattr(self, attr)))
        devs.extend(_check_roles(self))
        if self.label not in LABEL_VALUES:
            devs.append(Deviation("label_value_invalid", f"Label is {self.label!r}, not one of 1, 2, 3", "Label"))
        return devs

    def with_propagator(self, code: str, propagate_id: str) -> AIGCLabel:
        """This label as distributed by platform ``code``: producer fields are kept."""
        return replace(self, content_propagator=code, propagate_id=propagate_id)

    @classmethod
    def as_producer(cls, label: str, producer: str, produce_id: str, *, reserved_code1: str = "",
                    reserved_code2: str = "") -> AIGCLabel:
        """A label written by a platform that is itself the producer: propagator fields copy the producer's."""
        return cls(label=label, content_producer=producer, produce_id=produce_id, reserved_code1=reserved_code1,
                   content_propagator=producer, propagate_id=produce_id, reserved_code2=reserved_code2)


@dataclass(frozen=True, slots=True)
class LabelReading:
    """A label as found in a file: the normalised label, the raw text, and every deviation."""

    label: AIGCLabel
    raw: str
    deviations: tuple[Deviation, ...] = ()
    carrier: str = ""
    security: SecurityInfo = field(default_factory=lambda: SecurityInfo(False))

    @property
    def valid(self) -> bool:
        """True only when the label conforms to Annex E exactly (no deviation at all)."""
        return not self.deviations

    def with_carrier(self, carrier: str, extra: tuple[Deviation, ...] = ()) -> LabelReading:
        return replace(self, carrier=carrier, deviations=tuple(extra) + self.deviations)

    def to_dict(self) -> dict[str, Any]:
        return {
            "label": self.label.label,
            "meaning": self.label.meaning,
            "fields": self.label.fields(),
            "valid": self.valid,
            "deviations": [d.to_dict() for d in self.deviations],
            "carrier": self.carrier,
            "security": self.security.to_dict(),
            "raw": self.raw,
        }


# ----------------------------------------------------------------------------------------------
# parsing


def _json_depth_ok(text: str) -> bool:
    depth = 0
    in_str = False
    esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > _MAX_JSON_DEPTH:
                return False
        elif ch in "]}":
            depth -= 1
    return True


class _Pairs(list[tuple[str, Any]]):
    """A JSON object kept as its key/value pairs, so duplicate keys are seen."""


def _loads(text: str) -> Any:
    if not _json_depth_ok(text):
        raise LabelError(f"label JSON nests deeper than {_MAX_JSON_DEPTH} levels")

    def _reject_constant(name: str) -> Any:
        raise ValueError(f"{name} is not allowed")

    return json.loads(text, object_pairs_hook=_Pairs, parse_constant=_reject_constant)


def _decode(data: str | bytes, devs: list[Deviation]) -> str:
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > MAX_LABEL_BYTES:
        raise LabelTooLarge(f"label is {size} bytes, over the {MAX_LABEL_BYTES}-byte cap", size=size,
                            maximum=MAX_LABEL_BYTES)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise LabelEncodingError(f"label is not valid UTF-8 (byte {exc.start})") from exc
    else:
        text = data
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            raise LabelEncodingError(f"label holds an unpaired surrogate at {exc.start}") from exc
    if text.startswith("\ufeff"):
        devs.append(Deviation("bom", "label text starts with a byte-order mark"))
        text = text[1:]
    stripped = text.strip().rstrip("\x00").strip()
    if "\x00" in stripped:
        raise LabelError("label text contains NUL characters")
    return stripped


def _to_dict(value: Any, devs: list[Deviation], where: str) -> _Pairs:
    """Accept an object, or a JSON string holding one (one level of double encoding)."""
    if isinstance(value, str):
        devs.append(Deviation("json_string", f"{where} is a JSON string holding the object, not an object"))
        try:
            value = _loads(value.strip())
        except (ValueError, RecursionError) as exc:
            raise LabelError(f"{where} is a string that is not JSON: {exc}") from exc
    if not isinstance(value, _Pairs):
        raise LabelError(f"{where} is a JSON {type(value).__name__}, not an object")
    return value


def _norm_key(key: str) -> str:
    return "".join(ch for ch in key.lower() if ch not in " _-\t")


def _value_to_str(key: str, value: Any, devs: list[Deviation]) -> str:
    if isinstance(value, str):
        return value
    if value is None:
        devs.append(Deviation("value_not_string", f"{key} is null, not a string", key))
        return ""
    if isinstance(value, bool):
        devs.append(Deviation("value_not_string", f"{key} is a boolean, not a string", key))
        return "true" if value else "false"
    if isinstance(value, int):
        devs.append(Deviation("value_not_string", f"{key} is the number {value}, not a string", key))
        return str(value)
    if isinstance(value, float):
        devs.append(Deviation("value_not_string", f"{key} is the number {value}, not a string", key))
        return str(int(value)) if value.is_integer() else repr(value)
    devs.append(Deviation("value_not_string", f"{key} is a JSON {type(value).__name__}, not a string", key))
    if isinstance(value, _Pairs):
        return json.dumps(dict(value), ensure_ascii=True, separators=(",", ":"))
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _check_value(key: str, value: str) -> list[Deviation]:
    devs: list[Deviation] = []
    if value != value.strip():
        devs.append(Deviation("value_whitespace", f"{key} has leading or trailing whitespace", key))
    bad = sorted({ch for ch in value.strip() if not 0x21 <= ord(ch) <= 0x7E})
    if bad:
        shown = ", ".join(f"U+{ord(ch):04X}" for ch in bad[:5])
        devs.append(Deviation("value_not_printable_ascii",
                              f"{key} has characters outside printable ASCII 0x21-0x7E ({shown})", key))
    if '"' in value or "\\" in value:
        devs.append(Deviation("value_quote_or_backslash", f"{key} contains a double quote or a backslash", key))
    return devs


def _check_roles(lab: AIGCLabel) -> list[Deviation]:
    devs: list[Deviation] = []
    if not lab.content_producer and not lab.content_propagator:
        devs.append(Deviation("no_provider", "neither ContentProducer nor ContentPropagator is filled"))
    for code_key, code, id_key, id_value in (
        ("ContentProducer", lab.content_producer, "ProduceID", lab.produce_id),
        ("ContentPropagator", lab.content_propagator, "PropagateID", lab.propagate_id),
    ):
        if code and not id_value:
            devs.append(Deviation("id_missing", f"{code_key} is filled but {id_key} is empty", id_key))
        if id_value and not code:
            devs.append(Deviation("code_missing", f"{id_key} is filled but {code_key} is empty", code_key))
    return devs


def _normalise_label(raw: str, devs: list[Deviation]) -> str:
    if raw in LABEL_VALUES:
        return raw
    key = "".join(raw.split()).lower()
    if key in LABEL_VALUES:
        return key
    alias = LABEL_ALIASES.get(key)
    if alias is not None:
        devs.append(Deviation("label_value_invalid",
                              f"Label is {raw!r}, not one of 1, 2, 3 (read as {alias!r})", "Label"))
        return alias
    devs.append(Deviation("label_value_invalid", f"Label is {raw!r}, not one of 1, 2, 3 (unreadable)", "Label"))
    return raw


def security_info(lab: AIGCLabel) -> SecurityInfo:
    """Report whether ReservedCode1/2 carry integrity data and whether its SM2 signature verifies.

    Blocks in the documented ``synthwatch.securitydata/1`` layout are verified against the label
    fields (the content digest needs the file: :func:`synthwatch.provenance.security_data.verify_label`
    with ``path``); any other layout is reported as present and never as verified.
    """
    return verify_label(lab)


def parse_label(data: str | bytes | dict[str, Any], *, carrier: str = "") -> LabelReading:
    """Read a label leniently and list every deviation from Annex E.

    ``data`` is the label text (``bytes`` must be UTF-8) or an already-decoded JSON object.
    Raises :class:`LabelTooLarge`, :class:`LabelEncodingError` or :class:`LabelError` when nothing
    that could be a label can be made of it.
    """
    devs: list[Deviation] = []
    if isinstance(data, dict):
        raw = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        _decode(raw, devs)
        text = raw
    else:
        text = _decode(data, devs)
        raw = text
    if not text:
        raise LabelError("label text is empty")
    try:
        top: Any = _loads(text)
    except (ValueError, RecursionError) as exc:
        unescaped = html.unescape(text)
        if unescaped == text:
            raise LabelError(f"label is not JSON: {exc}") from exc
        try:
            top = _loads(unescaped)
        except (ValueError, RecursionError) as exc2:
            raise LabelError(f"label is not JSON: {exc2}") from exc2
        devs.append(Deviation("html_escaped", "label JSON is XML/HTML-escaped twice (&quot; etc.)"))
    top = _to_dict(top, devs, "the label")

    aigc_items = [(k, v) for k, v in top if isinstance(k, str) and k.strip().lower() == "aigc"]
    body: _Pairs
    if aigc_items:
        if len(aigc_items) > 1:
            devs.append(Deviation("field_duplicate", "the key AIGC appears more than once", "AIGC"))
        key, value = aigc_items[0]
        if key != "AIGC":
            devs.append(Deviation("aigc_key_case", f"top-level key is {key!r}, not 'AIGC'", "AIGC"))
        others = [k for k, _ in top if not (isinstance(k, str) and k.strip().lower() == "aigc")]
        if others:
            devs.append(Deviation("extra_top_level_key", f"keys beside AIGC: {', '.join(map(repr, others))}"))
        body = _to_dict(value, devs, "the AIGC value")
    elif any(_norm_key(k) in _KEY_BY_NORM for k, _ in top):
        devs.append(Deviation("aigc_key_missing", "the fields are not wrapped in an 'AIGC' object", "AIGC"))
        body = top
    else:
        raise LabelError("JSON object has neither an AIGC key nor any Annex E field")

    values: dict[str, str] = {}
    for key, value in body:
        canon = _KEY_BY_NORM.get(_norm_key(key)) if isinstance(key, str) else None
        if canon is None:
            devs.append(Deviation("field_unknown", f"unknown field {key!r}", str(key)))
            continue
        if key != canon:
            devs.append(Deviation("field_key_case", f"field {key!r} should be spelled {canon!r}", canon))
        if canon in values:
            devs.append(Deviation("field_duplicate", f"field {canon} appears more than once; the first is kept",
                                  canon))
            continue
        values[canon] = _value_to_str(canon, value, devs)
    for key, _ in FIELDS:
        if key not in values:
            devs.append(Deviation("field_missing", f"field {key} is missing", key))
            values[key] = ""

    for key, _ in FIELDS:
        devs.extend(_check_value(key, values[key]))
        values[key] = values[key].strip()
    label_value = _normalise_label(values["Label"], devs)
    lab = AIGCLabel(label=label_value, **{_ATTR_BY_KEY[k]: values[k] for k, _ in FIELDS if k != "Label"})
    devs.extend(_check_roles(lab))
    return LabelReading(label=lab, raw=raw, deviations=tuple(devs), carrier=carrier, security=security_info(lab))


def validate_label(data: str | bytes | dict[str, Any]) -> list[Deviation]:
    """Strict Annex E validation: every deviation, empty when the label conforms."""
    return list(parse_label(data).deviations)
