"""XMP packets: hardened parsing, signal extraction, and merging the AIGC label into a packet.

The parser is expat with every DTD construct refused (no entity can be declared, so none can
expand), a nesting cap and a size cap; errors are typed (:class:`UnsafeXML`,
:class:`LabelEncodingError`, :class:`LabelTooLarge`). Merging edits the packet as bytes at the
offsets expat reports, so every other property, namespace, comment and the packet wrapper stay
exactly as they were; existing labels are replaced (one) or removed (the rest), never added to.
"""

from __future__ import annotations

import json
import re
import xml.parsers.expat
from dataclasses import dataclass, field
from typing import Any, NoReturn

from .errors import LabelEncodingError, LabelTooLarge, LabelWriteError, UnsafeXML
from .label import Deviation

__all__ = [
    "TC260_NS",
    "IPTC_EXT_NS",
    "RDF_NS",
    "MAX_XMP_BYTES",
    "MAX_XMP_DEPTH",
    "XmpLabel",
    "XmpInfo",
    "parse_xmp",
    "merge_label",
    "remove_labels",
    "new_packet",
]

TC260_NS = "http://www.tc260.org.cn/ns/AIGC/1.0/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
IPTC_EXT_NS = "http://iptc.org/std/Iptc4xmpExt/2008-02-29/"
XAP_NS = "http://ns.adobe.com/xap/1.0/"
TIFF_NS = "http://ns.adobe.com/tiff/1.0/"
EXIF_NS = "http://ns.adobe.com/exif/1.0/"

MAX_XMP_BYTES = 1024 * 1024
MAX_XMP_DEPTH = 64
_SEP = "\x01"  # expat namespace separator: never valid in a URI or name


@dataclass(frozen=True, slots=True)
class XmpLabel:
    """An AIGC label found in a packet: its text and how it was written."""

    text: str
    form: str  # "element" | "attribute" | "structured" | "container"
    canonical_ns: bool
    deviations: tuple[Deviation, ...] = ()
    span: tuple[int, int] | None = None  # element byte span (for elements)
    qname: str = ""  # prefix:local as written
    host_start: int | None = None  # start of the start tag holding an attribute label


@dataclass
class XmpInfo:
    labels: list[XmpLabel] = field(default_factory=list)
    digital_source_types: list[str] = field(default_factory=list)
    creator_tools: list[str] = field(default_factory=list)
    software: list[str] = field(default_factory=list)
    rdf_end: int | None = None  # byte offset of the ``</rdf:RDF>`` end tag
    rdf_prefix: str | None = None


def _is_tc260_ns(uri: str) -> bool:
    u = uri.strip().lower().rstrip("/")
    return u.endswith("tc260.org.cn/ns/aigc/1.0") or u.endswith("tc260.org.cn/ns/aigc")


def _start_tag_end(data: bytes, start: int) -> int:
    """Offset of the ``>`` closing the start tag that begins at ``start`` (quote-aware)."""
    quote = 0
    for i in range(start + 1, len(data)):
        c = data[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (0x22, 0x27):
            quote = c
        elif c == 0x3E:
            return i
    raise UnsafeXML("unterminated start tag")


class _Node:
    __slots__ = ("uri", "local", "prefix", "start", "attrs", "text", "children", "depth")

    def __init__(self, uri: str, local: str, prefix: str, start: int, attrs: dict[str, str], depth: int) -> None:
        self.uri = uri
        self.local = local
        self.prefix = prefix
        self.start = start
        self.attrs = attrs
        self.text: list[str] = []
        self.children: list[_Node] = []
        self.depth = depth


def _split(name: str) -> tuple[str, str, str]:
    parts = name.split(_SEP)
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    if len(parts) == 2:
        return parts[0], parts[1], ""
    return "", parts[0], ""


def _check_packet(data: bytes) -> None:
    if len(data) > MAX_XMP_BYTES:
        raise LabelTooLarge(f"XMP packet is {len(data)} bytes, over the {MAX_XMP_BYTES}-byte cap",
                            size=len(data), maximum=MAX_XMP_BYTES)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LabelEncodingError(f"XMP packet is not valid UTF-8 (byte {exc.start})") from exc


def parse_xmp(data: bytes) -> XmpInfo:
    """Parse one XMP packet safely and collect the provenance signals it holds."""
    _check_packet(data)
    info = XmpInfo()
    parser = xml.parsers.expat.ParserCreate("UTF-8", namespace_separator=_SEP)
    parser.namespace_prefixes = True
    parser.buffer_text = True
    parser.SetParamEntityParsing(xml.parsers.expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[_Node] = []

    def refuse(*_a: Any) -> NoReturn:
        raise UnsafeXML("XMP packet declares a DTD or entities; refused")

    def start(name: str, attrs: dict[str, str]) -> None:
        if len(stack) >= MAX_XMP_DEPTH:
            raise UnsafeXML(f"XMP nests deeper than {MAX_XMP_DEPTH} elements")
        uri, local, prefix = _split(name)
        node = _Node(uri, local, prefix, parser.CurrentByteIndex, attrs, len(stack))
        if stack:
            stack[-1].children.append(node)
        stack.append(node)
        for aname, avalue in attrs.items():
            auri, alocal, aprefix = _split(aname)
            if alocal.lower() == "aigc" and _is_tc260_ns(auri):
                devs: list[Deviation] = []
                if auri != TC260_NS:
                    devs.append(Deviation("xmp_namespace", f"label namespace is {auri!r}, not {TC260_NS!r}"))
                if alocal != "AIGC":
                    devs.append(Deviation("xmp_element_name", f"label property is {alocal!r}, not 'AIGC'"))
                info.labels.append(XmpLabel(avalue, "attribute", auri == TC260_NS, tuple(devs),
                                            qname=f"{aprefix}:{alocal}" if aprefix else alocal,
                                            host_start=node.start))
            elif auri == IPTC_EXT_NS and alocal == "DigitalSourceType":
                info.digital_source_types.append(avalue.strip())
            elif auri == XAP_NS and alocal == "CreatorTool":
                info.creator_tools.append(avalue.strip())
            elif auri == TIFF_NS and alocal == "Software":
                info.software.append(avalue.strip())

    def end(_name: str) -> None:
        node = stack.pop()
        idx = parser.CurrentByteIndex
        tag_end = _start_tag_end(data, node.start)
        if data[tag_end - 1] == 0x2F:  # empty element <x/>
            span = (node.start, tag_end + 1)
        else:
            if data[idx:idx + 2] != b"</":
                raise UnsafeXML("could not locate an end tag")
            span = (node.start, data.index(b">", idx) + 1)
        text = "".join(node.text)
        if node.uri == RDF_NS and node.local == "RDF":
            info.rdf_end = None if data[tag_end - 1] == 0x2F else idx
            info.rdf_prefix = node.prefix
        if node.local.lower() == "aigc" and _is_tc260_ns(node.uri):
            _collect_element_label(info, node, text, span)
        elif node.uri == IPTC_EXT_NS and node.local == "DigitalSourceType":
            resource = node.attrs.get(f"{RDF_NS}{_SEP}resource{_SEP}rdf") or next(
                (v for k, v in node.attrs.items() if _split(k)[:2] == (RDF_NS, "resource")), None)
            value = resource if resource is not None else text
            info.digital_source_types.append(value.strip())
        elif node.uri == XAP_NS and node.local == "CreatorTool":
            info.creator_tools.append(_leaf_text(node, text))
        elif node.uri == TIFF_NS and node.local == "Software":
            info.software.append(_leaf_text(node, text))

    def chars(text: str) -> None:
        if stack:
            stack[-1].text.append(text)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.NotationDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.Parse(data, True)
    except xml.parsers.expat.ExpatError as exc:
        raise UnsafeXML(f"XMP packet is not well-formed XML: {exc}") from exc
    except RecursionError as exc:  # pragma: no cover - the depth cap comes first
        raise UnsafeXML("XMP nests too deeply") from exc
    return info


def _leaf_text(node: _Node, text: str) -> str:
    if text.strip():
        return text.strip()
    # rdf:Alt / rdf:Seq: the first rdf:li
    for child in node.children:
        for li in child.children:
            if li.local == "li":
                return "".join(li.text).strip()
    return ""


def _collect_element_label(info: XmpInfo, node: _Node, text: str, span: tuple[int, int]) -> None:
    devs: list[Deviation] = []
    if node.uri != TC260_NS:
        devs.append(Deviation("xmp_namespace", f"label namespace is {node.uri!r}, not {TC260_NS!r}"))
    if node.local != "AIGC":
        devs.append(Deviation("xmp_element_name", f"label element is {node.local!r}, not 'AIGC'"))
    qname = f"{node.prefix}:{node.local}" if node.prefix else node.local
    canonical = node.uri == TC260_NS
    if not node.children:
        info.labels.append(XmpLabel(text, "element", canonical, tuple(devs), span, qname))
        return
    # rdf:Alt / Bag / Seq holding the JSON in an rdf:li
    for child in node.children:
        if child.uri == RDF_NS and child.local in ("Alt", "Bag", "Seq"):
            lis = [li for li in child.children if li.uri == RDF_NS and li.local == "li"]
            if lis:
                devs.append(Deviation("xmp_container", f"label is wrapped in rdf:{child.local}"))
                info.labels.append(XmpLabel("".join(lis[0].text), "container", canonical, tuple(devs), span, qname))
                return
    # structured: the fields as child properties (directly or in an rdf:Description)
    leaves: dict[str, str] = {}

    def walk(n: _Node) -> None:
        for c in n.children:
            if c.children:
                walk(c)
            else:
                leaves[c.local] = "".join(c.text)
        for aname, avalue in n.attrs.items():
            auri, alocal, _ = _split(aname)
            if auri != RDF_NS:
                leaves[alocal] = avalue

    walk(node)
    devs.append(Deviation("xmp_structured", "label is written as XMP properties, not as one JSON text"))
    info.labels.append(XmpLabel(json.dumps({"AIGC": leaves}, ensure_ascii=False), "structured", canonical,
                                tuple(devs), span, qname))


def _xml_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_PACKET_BEGIN = '<?xpacket begin="\ufeff" id="W5M0MpCehiHzreSzNTczkc9d"?>'
_PACKET_END = '<?xpacket end="w"?>'


def _description(label_json: str, rdf_prefix: str = "rdf") -> str:
    p = f"{rdf_prefix}:" if rdf_prefix else ""
    return (f'<{p}Description {p}about="" xmlns:TC260="{TC260_NS}">'
            f"<TC260:AIGC>{_xml_escape(label_json)}</TC260:AIGC></{p}Description>")


def new_packet(label_json: str) -> bytes:
    """A fresh XMP packet holding only the label."""
    body = (f'{_PACKET_BEGIN}\n<x:xmpmeta xmlns:x="adobe:ns:meta/">\n'
            f'<rdf:RDF xmlns:rdf="{RDF_NS}">\n{_description(label_json)}\n</rdf:RDF>\n</x:xmpmeta>\n{_PACKET_END}')
    return body.encode("utf-8")


def remove_labels(existing: bytes) -> bytes:
    """The packet with every AIGC label taken out and nothing else changed."""
    return _edit(existing, None)


def merge_label(existing: bytes | None, label_json: str) -> bytes:
    """Put ``label_json`` into an XMP packet as the only AIGC label, keeping everything else.

    With no packet a new one is made. The first label written as an element in the canonical
    namespace is replaced in place; every other label (attributes, variants, duplicates) is removed,
    and when none could be replaced a new ``rdf:Description`` goes before ``</rdf:RDF>``.
    """
    if existing is None or not existing.strip(b"\x00 \t\r\n"):
        return new_packet(label_json)
    return _edit(existing, label_json)


def _edit(existing: bytes, label_json: str | None) -> bytes:
    info = parse_xmp(existing)
    if info.rdf_end is None and label_json is not None:
        raise LabelWriteError("the existing XMP packet has no rdf:RDF element to hold the label")
    edits: list[tuple[int, int, bytes]] = []
    replaced = False
    element_spans = [lab.span for lab in info.labels if lab.span is not None]
    for lab in info.labels:
        pos = lab.span[0] if lab.span is not None else lab.host_start
        # anything nested in another label element goes away with its parent
        if any(o != lab.span and o[0] <= (pos or 0) < o[1] for o in element_spans):
            continue
        if lab.span is not None:
            if label_json is not None and not replaced and lab.canonical_ns and ":" in lab.qname and lab.qname.endswith(":AIGC"):
                edits.append((lab.span[0], lab.span[1],
                              f"<{lab.qname}>{_xml_escape(label_json)}</{lab.qname}>".encode()))
                replaced = True
            else:
                edits.append((lab.span[0], lab.span[1], b""))
        else:
            assert lab.host_start is not None
            tag_end = _start_tag_end(existing, lab.host_start)
            tag = existing[lab.host_start:tag_end]
            m = re.search(rb"\s+" + re.escape(lab.qname.encode()) + rb"\s*=\s*(\"[^\"]*\"|'[^']*')", tag)
            if m is None:
                raise LabelWriteError(f"could not locate the attribute {lab.qname} to replace it")
            edits.append((lab.host_start + m.start(), lab.host_start + m.end(), b""))
    if label_json is not None and not replaced:
        rdf_prefix = info.rdf_prefix if info.rdf_prefix is not None else "rdf"
        assert info.rdf_end is not None
        edits.append((info.rdf_end, info.rdf_end, _description(label_json, rdf_prefix).encode()))
    out = existing
    for s, e, rep in sorted(edits, key=lambda x: (x[0], x[1]), reverse=True):
        out = out[:s] + rep + out[e:]
    return out
