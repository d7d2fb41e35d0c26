"""Was a label removed, altered or forged between two versions of a file?

Producer-owned fields (Label, ContentProducer, ProduceID, ReservedCode1) must survive every copy;
propagator-owned fields (ContentPropagator, PropagateID, ReservedCode2) are each platform's to fill.
"""

from __future__ import annotations

import os
from typing import Any

from synthwatch.errors import SynthwatchError

from .aigc_label import read_labels
from .label import FIELDS, LabelReading

__all__ = ["PRODUCER_FIELDS", "PROPAGATOR_FIELDS", "compare", "diff_labels"]

PRODUCER_FIELDS = ("Label", "ContentProducer", "ProduceID", "ReservedCode1")
PROPAGATOR_FIELDS = ("ContentPropagator", "PropagateID", "ReservedCode2")

#: status -> (is a violation, meaning)
STATUSES: dict[str, tuple[bool, str]] = {
    "unlabelled": (False, "neither version carries a label"),
    "added": (False, "the new version carries a label the old one did not have"),
    "unchanged": (False, "the label is the same"),
    "propagated": (False, "producer fields kept; only propagator fields changed"),
    "removed": (True, "the label was removed"),
    "altered": (True, "producer-owned fields of the label were changed"),
    "duplicated": (True, "the new version carries more than one label"),
}


def compare(old: list[LabelReading], new: list[LabelReading]) -> dict[str, Any]:
    """Compare the labels of two versions (as :func:`read_labels` returns them)."""
    changed: list[dict[str, str]] = []
    if len(new) > 1:
        status = "duplicated"
    elif not old and not new:
        status = "unlabelled"
    elif not new:
        status = "removed"
    elif not old:
        status = "added"
    else:
        a, b = old[0].label.fields(), new[0].label.fields()
        changed = [{"field": k, "old": a[k], "new": b[k]} for k, _ in FIELDS if a[k] != b[k]]
        if not changed:
            status = "unchanged"
        elif any(c["field"] in PRODUCER_FIELDS for c in changed):
            status = "altered"
        else:
            status = "propagated"
    violation, meaning = STATUSES[status]
    return {
        "status": status,
        "violation": violation,
        "meaning": meaning,
        "changed": changed,
        "old": [r.to_dict() for r in old],
        "new": [r.to_dict() for r in new],
    }


def diff_labels(old_path: str | os.PathLike[str], new_path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read both files and :func:`compare` their labels; errors reading either raise (typed)."""
    try:
        old = read_labels(old_path)
    except SynthwatchError as exc:
        exc.add_note(f"while reading {old_path}")
        raise
    try:
        new = read_labels(new_path)
    except SynthwatchError as exc:
        exc.add_note(f"while reading {new_path}")
        raise
    return compare(old, new)
