"""Security self-assessment reports built from the system's own evidence (issue 16).

* :mod:`.rules`: the rules as data (triggers T1-T7, basic facts, checklist A1-A8 and D1-D4, the
  evidence each item needs and its pass / warn / fail criteria), versioned YAML in the package.
* :mod:`.model`: the declared facts of an assessment, evidence sets (measured or declared) and the
  evaluation of the rules against them.
* :mod:`.collect`: the collectors that measure evidence through an :class:`~.sources.EvidenceSource`
  (the service implements it over its database).
* :mod:`.report`: the report document (JSON) and its bilingual HTML rendering, with charts.

Nothing here imports a database driver or a web framework; ``synthwatch.service.assessments``
stores assessments and serves them.
"""

from __future__ import annotations

from .rules import RULES_FORMAT, Rules, catalogue, default_rules, load_rules, parse_rules

__all__ = ["RULES_FORMAT", "Rules", "catalogue", "default_rules", "load_rules", "parse_rules"]
