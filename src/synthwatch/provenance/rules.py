"""The upload decision of the Labeling Measures Art. 6 and the trace tables, as data.

Everything here is plain data so that it can be corrected without touching code: a deployment may
also load its own table from YAML or JSON with :func:`synthwatch.provenance.decision.load_rules`.

Rule conditions are small trees over *facts* (see :func:`synthwatch.provenance.decision.facts_from`)::

    {"fact": NAME, "eq": VALUE}      equality (True / False / None / a string)
    {"fact": NAME, "in": [V, ...]}   membership
    {"all": [COND, ...]}             every condition
    {"any": [COND, ...]}             at least one
    {"not": COND}                    negation

``label`` rules are tried in order and the first that matches gives the label; every matching
``review`` rule adds a reason for human review, whatever the label.
Items marked (interpretation) are this project's reading where REGULATION.md is silent.
"""

from __future__ import annotations

from typing import Any

__all__ = ["RULES", "IPTC_CLASSES", "IPTC_PREFIX", "GENERATOR_PATTERNS", "GENERATOR_TEXT_KEYS", "RULES_VERSION",
           "C2PA_SOURCE_TYPE_BY_LABEL"]

RULES_VERSION = "art6/2025-09-01/1"

RULES: dict[str, Any] = {
    "version": RULES_VERSION,
    "label_rules": [
        {
            "id": "art6.1-implicit-label",
            "label": "1",
            "notice": "prominent",
            "basis": "a valid GB 45438 implicit label says AI-generated (Labeling Measures Art. 6 case 1)",
            "when": {"all": [{"fact": "aigc.valid", "eq": True}, {"fact": "aigc.label", "eq": "1"}]},
        },
        {
            "id": "art6.1-c2pa",
            "label": "1",
            "notice": "prominent",
            "basis": "a valid C2PA manifest declares an AI digital source type (Art. 6 case 1)",
            "when": {"all": [{"fact": "c2pa.state", "in": ["Valid", "Trusted"]},
                             {"fact": "c2pa.ai", "in": ["generated", "composite"]}]},
        },
        {
            "id": "art6.2-declared",
            "label": "2",
            "notice": "possibly",
            "basis": "the uploader declared the content AI-generated (Art. 6 case 2)",
            "when": {"fact": "declared_ai", "eq": True},
        },
        {
            "id": "art6.2-upstream-label",
            "label": "2",
            "notice": "possibly",
            "basis": "a valid implicit label from an upstream platform says possibly AI-generated "
                     "(interpretation: the upstream declaration is carried forward)",
            "when": {"all": [{"fact": "aigc.valid", "eq": True}, {"fact": "aigc.label", "eq": "2"}]},
        },
        {
            "id": "art6.3-upstream-label",
            "label": "3",
            "notice": "suspected",
            "basis": "a valid implicit label from an upstream platform says suspected AI-generated "
                     "(interpretation: carried forward)",
            "when": {"all": [{"fact": "aigc.valid", "eq": True}, {"fact": "aigc.label", "eq": "3"}]},
        },
        {
            "id": "art6.3-nonconforming-label",
            "label": "3",
            "notice": "suspected",
            "basis": "an implicit label is present but does not conform to GB 45438 Annex E: a trace of "
                     "generation (Art. 6 case 3)",
            "when": {"all": [{"fact": "aigc.present", "eq": True}, {"fact": "aigc.valid", "eq": False}]},
        },
        {
            "id": "art6.3-c2pa-unverified",
            "label": "3",
            "notice": "suspected",
            "basis": "a C2PA manifest declares AI generation but does not validate: a trace (Art. 6 case 3)",
            "when": {"all": [{"fact": "c2pa.state", "eq": "Invalid"},
                             {"fact": "c2pa.ai", "in": ["generated", "composite"]}]},
        },
        {
            "id": "art6.3-visible-label",
            "label": "3",
            "notice": "suspected",
            "basis": "a visible AI label was detected (Art. 6 case 3)",
            "when": {"fact": "visible_label.found", "eq": True},
        },
        {
            "id": "art6.3-watermark",
            "label": "3",
            "notice": "suspected",
            "basis": "an AI-generator watermark was detected (Art. 6 case 3)",
            "when": {"fact": "watermark.found", "eq": True},
        },
        {
            "id": "art6.3-iptc",
            "label": "3",
            "notice": "suspected",
            "basis": "IPTC DigitalSourceType names AI generation (a metadata trace, Art. 6 case 3)",
            "when": {"fact": "iptc.class", "eq": "ai"},
        },
        {
            "id": "art6.3-generator-trace",
            "label": "3",
            "notice": "suspected",
            "basis": "generator traces in the metadata (SD parameters text, generator software name) "
                     "(Art. 6 case 3)",
            "when": {"fact": "generator.trace", "eq": True},
        },
        {
            "id": "art6.3-detector",
            "label": "3",
            "notice": "suspected",
            "basis": "the detectors scored the content over their calibrated threshold (Art. 6 case 3)",
            "when": {"fact": "detector.synthetic", "eq": True},
        },
    ],
    "review_rules": [
        {
            "id": "deepfake-review",
            "basis": "a face was scored as manipulated: deepfakes of real people go to human review",
            "when": {"fact": "face.synthetic", "eq": True},
        },
        {
            "id": "label-unreadable-review",
            "basis": "the metadata where a label lives is hostile or unreadable (interpretation: a person looks)",
            "when": {"fact": "aigc.error", "eq": True},
        },
        {
            "id": "label-conflict-review",
            "basis": "an implicit label says AI-generated but a C2PA manifest names a camera capture "
                     "(interpretation)",
            "when": {"all": [{"fact": "aigc.label", "eq": "1"}, {"fact": "c2pa.capture", "eq": True}]},
        },
    ],
    "notices": {
        "prominent": "AI-generated (AI生成)",
        "possibly": "Possibly AI-generated (可能为AI生成)",
        "suspected": "Suspected AI-generated (疑似AI生成)",
    },
}

IPTC_PREFIX = "http://cv.iptc.org/newscodes/digitalsourcetype/"

#: IPTC DigitalSourceType code -> class (REGULATION.md section 3)
IPTC_CLASSES: dict[str, str] = {
    "trainedAlgorithmicMedia": "ai",
    "compositeWithTrainedAlgorithmicMedia": "ai",
    "algorithmicMedia": "ai",
    "compositeSynthetic": "possibly_ai",
    "algorithmicallyEnhanced": "possibly_ai",
    "digitalCapture": "capture",
    "computationalCapture": "capture",
    "screenCapture": "capture",
    "humanEdits": "capture",
    "digitalCreation": "capture",
    "negativeFilm": "capture",
    "positiveFilm": "capture",
    "print": "capture",
    "minorHumanEdits": "capture",
    "compositeCapture": "capture",
    "dataDrivenMedia": "possibly_ai",
    "virtualRecording": "capture",
    "composite": "capture",
}

#: regular expressions (case-insensitive, searched) for generator names in EXIF Software,
#: XMP CreatorTool and similar fields
GENERATOR_PATTERNS: tuple[str, ...] = (
    r"stable[ -_]?diffusion", r"\bsdxl\b", r"midjourney", r"dall[-·\s]?e", r"novelai", r"comfyui",
    r"automatic1111", r"invokeai", r"fooocus", r"adobe firefly", r"\bimagen\b", r"leonardo\.ai",
    r"\bflux\.?1\b", r"\bsora\b", r"\bkling\b", r"可灵", r"即梦", r"jimeng", r"doubao", r"豆包", r"通义万相",
    r"wanxiang", r"文心一格", r"hunyuan", r"混元", r"ideogram", r"\bgpt-?4o\b", r"chatgpt", r"gemini",
    r"runway(ml)?", r"\bpika\b", r"hailuo", r"\bvidu\b", r"\bkrea\b",
)

#: PNG text keywords written by image generators (A1111/Forge, ComfyUI, InvokeAI, NovelAI...)
GENERATOR_TEXT_KEYS: tuple[str, ...] = (
    "parameters", "prompt", "workflow", "sd-metadata", "invokeai_metadata", "dream", "negative_prompt",
)


#: AIGC Label -> the IPTC digital source type a platform's C2PA manifest asserts (interpretation).
#: "1" (AI-generated) is trainedAlgorithmicMedia. "2" (declared by the uploader) and "3" (suspected)
#: establish no source type, and C2PA's ``c2pa.created`` action must state one, so for them the
#: operator names the type (``--c2pa-source-type``) or the file must already carry a manifest (then
#: the platform's action is ``c2pa.published`` with no source type of its own).
C2PA_SOURCE_TYPE_BY_LABEL: dict[str, str | None] = {
    "1": "trainedAlgorithmicMedia",
    "2": None,
    "3": None,
}
