"""Labelling a copy of a file, end to end: the library call behind ``synthwatch label apply`` and
the review queue's ``label`` action.

:func:`label_copy` does, in this order: the explicit notice when asked (burned into an image or the
first seconds of a video, the Morse "AI" cue on audio), the GB 45438 implicit label (one label,
read back to confirm; an SM2 SecurityData block when a key is given), and a C2PA manifest when a
signer is given, signed last so that it covers the label. Intermediate files live beside ``dst``
and are removed whatever happens; ``dst`` appears only on success.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..media.sniff import sniff
from ..types import MediaKind
from .aigc_label import apply_label
from .c2pa_manifest import C2paSigner, read_c2pa, sign_c2pa
from .label import LabelReading
from .rules import C2PA_SOURCE_TYPE_BY_LABEL
from .security_data import SM2Key

__all__ = ["LabelCopy", "label_copy", "add_explicit_notice", "describe_explicit"]

PathLike = str | os.PathLike[str]


@dataclass(frozen=True)
class LabelCopy:
    """What :func:`label_copy` wrote."""

    path: Path
    reading: LabelReading  # the implicit label as read back from ``path``
    visible: dict[str, Any] | None  # the explicit notice added (see :func:`describe_explicit`), or None
    c2pa: dict[str, Any] | None  # the signed manifest as read back, or None

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), **self.reading.to_dict(), "visible": self.visible, "c2pa": self.c2pa}


def add_explicit_notice(src: PathLike, dst: PathLike, *, seconds: float, throughout: bool = False,
                        placement: str = "prepend", at_end: bool = False) -> dict[str, Any]:
    """Add the explicit notice that fits the medium of ``src`` (its real type, from its bytes) to a
    copy at ``dst``; what was added, as a dict with ``medium`` = image | video | audio."""
    from .audible import add_audio_cue
    from .visible import burn_image_label
    from .visible_video import burn_video_label

    kind = sniff(src).kind
    if kind is MediaKind.VIDEO:
        return {"medium": "video", **burn_video_label(src, dst, seconds=seconds, throughout=throughout).to_dict()}
    if kind is MediaKind.AUDIO:
        return {"medium": "audio", **add_audio_cue(src, dst, placement=placement, at_end=at_end).to_dict()}
    return {"medium": "image", **burn_image_label(src, dst).to_dict()}


def describe_explicit(v: dict[str, Any]) -> str:
    """One line saying what explicit notice :func:`add_explicit_notice` added."""
    if v["medium"] == "audio":
        return (f"audible cue {v['cue']!r} ({v['placement']}{', also at the end' if v['at_end'] else ''}), "
                f"{v['cue_seconds']:.2f} s, {v['codec']} {v['sample_rate']} Hz")
    where = "every frame" if v.get("throughout") else f"the first {v['seconds']:g} s" if v["medium"] == "video" \
        else "the image"
    return (f"visible notice {' / '.join(v['text'])!r} on {where}: {v['text_height_px']}px high "
            f"({v['ratio']:.1%} of the shorter side), font {v['font']} ({v['font_licence']})")


def label_copy(src: PathLike, dst: PathLike, *, producer: str | None = None, propagator: str | None = None,
               label: str | None = None, visible: bool = False, visible_seconds: float = 2.0,
               throughout: bool = False, cue_placement: str = "prepend", cue_at_end: bool = False,
               security_key: SM2Key | None = None, c2pa_signer: C2paSigner | None = None,
               c2pa_source_type: str | None = None, trust_anchors: str | None = None) -> LabelCopy:
    """Write a labelled copy of ``src`` to ``dst`` (see the module doc).

    Exactly one of ``producer`` / ``propagator`` (this platform's provider code) is required;
    ``label`` is "1", "2" or "3" (default: keep the file's, else "1"). A new C2PA manifest must state a
    digital source type: ``c2pa_source_type``, else the one that ``label`` establishes; when neither
    exists and the file carries no manifest yet, :class:`~synthwatch.errors.ConfigError` is raised.
    Media and label errors are raised as their :mod:`synthwatch.errors` types."""
    if (producer is None) == (propagator is None):
        raise ConfigError("give exactly one of producer or propagator")
    if label is not None and label not in ("1", "2", "3"):
        raise ConfigError("label must be 1, 2 or 3")
    if cue_placement not in ("prepend", "mix"):
        raise ConfigError("cue placement must be prepend or mix")
    out = Path(dst)
    tmp_visible = out.with_name(f".{out.name}.visible{out.suffix}")
    tmp_label = out.with_name(f".{out.name}.label{out.suffix}")
    drawn: dict[str, Any] | None = None
    signed: dict[str, Any] | None = None
    try:
        source: PathLike = src
        if visible:
            drawn = add_explicit_notice(src, tmp_visible, seconds=visible_seconds, throughout=throughout,
                                        placement=cue_placement, at_end=cue_at_end)
            source = tmp_visible
        labelled = tmp_label if c2pa_signer is not None else out
        reading = apply_label(source, labelled, producer=producer, propagator=propagator, label=label,
                              security_key=security_key)
        if c2pa_signer is not None:
            source_type = c2pa_source_type or C2PA_SOURCE_TYPE_BY_LABEL.get(reading.label.label)
            if source_type is None and not read_c2pa(labelled, trust_anchors=trust_anchors)["present"]:
                raise ConfigError(f"Label {reading.label.label} establishes no digital source type and a new "
                                  "C2PA manifest must state one: give c2pa_source_type (--c2pa-source-type)")
            signed = sign_c2pa(labelled, out, c2pa_signer, digital_source_type=source_type,
                               trust_anchors=trust_anchors)
    finally:
        tmp_visible.unlink(missing_ok=True)
        tmp_label.unlink(missing_ok=True)
    return LabelCopy(out, reading, drawn, signed)
