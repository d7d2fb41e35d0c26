"""XMP: hardened parsing, lenient label forms, and merging that keeps everything else."""

from __future__ import annotations

import json

import pytest

from synthwatch.provenance.errors import LabelEncodingError, LabelTooLarge, LabelWriteError, UnsafeXML
from synthwatch.provenance.label import AIGCLabel, parse_label
from synthwatch.provenance.xmp import (
    MAX_XMP_BYTES,
    TC260_NS,
    merge_label,
    new_packet,
    parse_xmp,
    remove_labels,
)

LABEL = AIGCLabel.as_producer("1", "PROD", "id1").to_json()
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"


def packet(inner: str, extra_ns: str = "") -> bytes:
    return (f'<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?><x:xmpmeta xmlns:x="adobe:ns:meta/">'
            f'<rdf:RDF xmlns:rdf="{RDF}"{extra_ns}>{inner}</rdf:RDF></x:xmpmeta><?xpacket end="w"?>').encode()


OTHER = ('<rdf:Description rdf:about="" xmlns:dc="http://purl.org/dc/elements/1.1/" '
         'xmlns:Iptc4xmpExt="http://iptc.org/std/Iptc4xmpExt/2008-02-29/">'
         '<dc:title><rdf:Alt><rdf:li xml:lang="x-default">Keep me</rdf:li></rdf:Alt></dc:title>'
         '<Iptc4xmpExt:DigitalSourceType>http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia'
         "</Iptc4xmpExt:DigitalSourceType></rdf:Description>")


def test_new_packet_holds_one_canonical_label() -> None:
    info = parse_xmp(new_packet(LABEL))
    assert len(info.labels) == 1
    lab = info.labels[0]
    assert lab.form == "element" and lab.canonical_ns and lab.text == LABEL


def test_merge_keeps_every_other_byte_and_adds_one_label() -> None:
    old = packet(OTHER)
    merged = merge_label(old, LABEL)
    info = parse_xmp(merged)
    assert [x.text for x in info.labels] == [LABEL]
    assert info.digital_source_types == ["http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"]
    # the old packet is intact around the inserted description
    idx = merged.index(b"<rdf:Description rdf:about=\"\" xmlns:TC260")
    assert merged[:idx] + merged[merged.index(b"</rdf:RDF>"):] == old


def test_update_replaces_in_place_and_never_duplicates() -> None:
    once = merge_label(packet(OTHER), LABEL)
    other = AIGCLabel("2", content_propagator="PLAT", propagate_id="z").to_json()
    twice = merge_label(once, other)
    assert [x.text for x in parse_xmp(twice).labels] == [other]
    assert len(twice) - len(once) == len(other) - len(LABEL)


def test_attribute_variant_and_duplicate_labels_collapse_to_one() -> None:
    inner = (f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}" TC260:AIGC=\'{LABEL}\'/>'
             f'<rdf:Description rdf:about="" xmlns:t="http://www.tc260.org.cn/ns/AIGC/1.0">'
             f"<t:AIGC>{LABEL}</t:AIGC><t:AIGC>{LABEL}</t:AIGC></rdf:Description>" + OTHER)
    old = packet(inner)
    info = parse_xmp(old)
    assert {x.form for x in info.labels} == {"attribute", "element"} and len(info.labels) == 3
    assert any(d.code == "xmp_namespace" for x in info.labels for d in x.deviations)
    merged = merge_label(old, LABEL)
    labels = parse_xmp(merged).labels
    assert len(labels) == 1 and labels[0].canonical_ns and labels[0].text == LABEL
    assert b"Keep me" in merged
    stripped = remove_labels(old)
    assert parse_xmp(stripped).labels == [] and b"Keep me" in stripped


def test_structured_and_container_forms_are_read_leniently() -> None:
    structured = packet(f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}"><TC260:AIGC '
                        'rdf:parseType="Resource"><TC260:Label>1</TC260:Label><TC260:ContentProducer>P'
                        "</TC260:ContentProducer><TC260:ProduceID>i</TC260:ProduceID></TC260:AIGC></rdf:Description>")
    lab = parse_xmp(structured).labels[0]
    assert lab.form == "structured" and "xmp_structured" in {d.code for d in lab.deviations}
    reading = parse_label(lab.text)
    assert reading.label.label == "1" and reading.label.content_producer == "P"
    container = packet(f'<rdf:Description rdf:about="" xmlns:TC260="{TC260_NS}"><TC260:AIGC><rdf:Alt>'
                       f'<rdf:li xml:lang="x-default">{LABEL}</rdf:li></rdf:Alt></TC260:AIGC></rdf:Description>')
    lab2 = parse_xmp(container).labels[0]
    assert lab2.form == "container" and json.loads(lab2.text)["AIGC"]["Label"] == "1"
    # both are replaced by one canonical element on write
    for old in (structured, container):
        labels = parse_xmp(merge_label(old, LABEL)).labels
        assert len(labels) == 1 and labels[0].form == "element"


def test_label_json_is_escaped_in_xml() -> None:
    lab = AIGCLabel.as_producer("1", "A&B<C>", "i").to_json()
    out = merge_label(None, lab)
    assert b"A&amp;B&lt;C&gt;" in out
    assert parse_xmp(out).labels[0].text == lab


BILLION_LAUGHS = b"""<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">
<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
<rdf:Description xmlns:TC260="http://www.tc260.org.cn/ns/AIGC/1.0/"><TC260:AIGC>&lol3;</TC260:AIGC>
</rdf:Description></rdf:RDF></x:xmpmeta>"""

XXE = b"""<?xml version="1.0"?><!DOCTYPE x [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<x:xmpmeta xmlns:x="adobe:ns:meta/">&xxe;</x:xmpmeta>"""


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (BILLION_LAUGHS, UnsafeXML),
        (XXE, UnsafeXML),
        (b"<a>" * 5000 + b"</a>" * 5000, UnsafeXML),
        (b"<x:xmpmeta xmlns:x='adobe:ns:meta/'><unclosed></x:xmpmeta>", UnsafeXML),
        (packet("").replace(b"xmpmeta", b"xmpm\xff\xfeta"), LabelEncodingError),
        (b"<a>" + b" " * (MAX_XMP_BYTES + 1) + b"</a>", LabelTooLarge),
    ],
)
def test_hostile_packets_give_typed_errors(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        parse_xmp(data)
    with pytest.raises(error):
        merge_label(data, LABEL)


def test_packet_without_rdf_cannot_take_a_label() -> None:
    with pytest.raises(LabelWriteError):
        merge_label(b'<x:xmpmeta xmlns:x="adobe:ns:meta/"/>', LABEL)
