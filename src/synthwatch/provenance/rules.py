"""The upload decision of the Labeling Measures Art. 6, how C2PA is read, and the trace tables, as data.

Everything here is plain data so that it can be corrected without touching code. The Art. 6 rule
table and the C2PA reading policy ship as YAML beside this module (``policy/art6-rules.yaml``,
``policy/c2pa-reading.yaml``; their comments document every field): :data:`RULES` and
:data:`C2PA_READING` are those files, parsed. A deployment loads its own table from YAML or JSON with
:func:`synthwatch.provenance.decision.load_rules` (``synthwatch label check --rules FILE``).

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

from importlib import resources
from typing import Any

import yaml

__all__ = ["RULES", "IPTC_CLASSES", "IPTC_PREFIX", "GENERATOR_PATTERNS", "GENERATOR_TEXT_KEYS", "RULES_VERSION",
           "C2PA_SOURCE_TYPE_BY_LABEL", "C2PA_READING", "policy_text"]


def policy_text(name: str) -> str:
    """The text of a shipped policy file (``art6-rules.yaml``, ``c2pa-reading.yaml``)."""
    return resources.files(__package__).joinpath("policy", name).read_text(encoding="utf-8")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load(policy_text(name))
    if not isinstance(data, dict):  # pragma: no cover - the shipped files are tested
        raise ValueError(f"shipped policy {name} is not a mapping")
    return data


#: the shipped Art. 6 rule table (``policy/art6-rules.yaml``)
RULES: dict[str, Any] = _load("art6-rules.yaml")
RULES_VERSION: str = str(RULES["version"])

#: how C2PA manifest stores are read: graph limits, counted relationships, source-type classes and
#: the translation of the library's validation status codes (``policy/c2pa-reading.yaml``)
C2PA_READING: dict[str, Any] = _load("c2pa-reading.yaml")

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
    # names C2PA producers write as software agent / claim generator (seen on published files)
    r"image creator from (microsoft )?designer", r"bing image creator", r"microsoft designer",
    r"black forest labs", r"gpt-image", r"nano banana", r"\bveo\b", r"seedream", r"seedance", r"dreamina",
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
