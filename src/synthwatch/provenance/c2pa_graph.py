"""Read a whole C2PA manifest store: the ingredient graph, the AI declarations on it, and validation per manifest.

The C2PA library (``c2pa-python``) returns the store as a JSON report (every manifest, its
assertions and ingredients) plus validation results (status codes, each with the URL of the manifest
it concerns). :func:`read_store` turns both into synthwatch's reading, with no I/O and no native
code, so it runs unchanged in the isolated provenance worker and in tests on hand-built reports:

* **the graph**: from the active manifest, every ingredient that carries a manifest, recursively
  (``parentOf``, ``componentOf``; ``inputTo`` is walked and shown but does not describe this content),
  within the depth and size limits of the reading policy. Each manifest is listed once, with the
  path that reached it;
* **the declarations**: every action with a ``digitalSourceType`` on a counted manifest, classified by
  the policy's ``declarations`` table (C2PA 2.x actions, IPTC vocabulary): ``generated`` (created by a
  trained model, or derived from such a parent), ``composite`` (AI material placed or edited in,
  ``compositeWithTrainedAlgorithmicMedia``), ``possibly_ai``, ``capture``. Each one names its manifest,
  action and the ingredient path from the active manifest (what Content Credentials Verify shows as the
  history);
* **validation per manifest**, translated from the library's status codes into separate dimensions
  rather than its one-word state: structure, assertion hashes, content binding (active manifest),
  ingredient link, signature, signer trust, certificate validity, timestamp, revocation. For an
  ingredient manifest the library reports only the *differences* (``ingredientDeltas``) from what the
  parent's signer recorded when it took the ingredient in; where it reports none, the recorded codes
  stand (marked ``recorded``);
* **the assessment** the Art. 6 rules use: the worst value of each dimension over the manifests an AI
  declaration rests on (the active manifest and every manifest on the path to the declaring one).

Everything read from the file (titles, generator names, descriptions) is untrusted text: it is
capped in length and passed on as data, never interpreted.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Mapping, Sequence
from typing import Any

from .rules import C2PA_READING, GENERATOR_PATTERNS, IPTC_PREFIX

__all__ = ["read_store", "store_error", "manifest_label", "classify", "summary_rows", "certificates",
           "DIMENSION_ORDER"]

_LABEL_RE = re.compile(r"(?:^|[=/])c2pa/([^/]+)")
_GEN_RE = [re.compile(p, re.IGNORECASE) for p in GENERATOR_PATTERNS]
_TEXT = 300
_LABEL_MAX = 256  # a manifest label is a URN of some 50 characters; a longer one is not followed

#: per dimension, its values from worst to best (the assessment takes the first that occurs)
DIMENSION_ORDER: dict[str, tuple[str, ...]] = {
    "integrity": ("broken", "unknown", "intact"),
    "signature": ("invalid", "unknown", "valid"),
    "trust": ("untrusted", "unknown", "trusted"),
    "credential": ("invalid", "outside_validity", "expired", "unknown", "valid"),
    "timestamp": ("invalid", "untrusted", "absent", "validated", "trusted"),
    "revocation": ("revoked", "unknown", "not_checked", "not_revoked"),
}


#: status-code dimensions that make up a manifest's integrity
_PART_OF = {"structure": "integrity", "assertions": "integrity", "content": "integrity", "link": "integrity"}


def _text(value: Any) -> str | None:
    if value is None:
        return None
    s = value if isinstance(value, str) else str(value)
    return s if len(s) <= _TEXT else s[:_TEXT] + "…"


def manifest_label(url: str | None) -> str | None:
    """The manifest label a JUMBF URL names (``self#jumbf=/c2pa/<label>/...``), or None."""
    m = _LABEL_RE.search(url or "")
    return m.group(1) if m else None


def _code_of(dst: str) -> str:
    code = dst.strip()
    if code.startswith(IPTC_PREFIX):
        code = code[len(IPTC_PREFIX):]
    return code.rstrip("/").rsplit("/", 1)[-1]


def classify(dst: str, action: str, via: str, policy: Mapping[str, Any] | None = None) -> tuple[str | None, str | None]:
    """(kind, class) of a digital source type carried by ``action`` on a manifest reached ``via``
    (``derived`` / ``component`` / ``input``; the active manifest is ``derived``)."""
    pol = policy or C2PA_READING
    kind = (pol.get("source_types") or {}).get(_code_of(dst))
    if kind is None:
        return None, None
    action_kind = "creation" if action in (pol.get("creation_actions") or ()) else "edit"
    for rule in pol.get("declarations") or ():
        if rule.get("kind") != kind:
            continue
        if rule.get("action", "any") not in ("any", action_kind):
            continue
        if rule.get("via", "any") not in ("any", via):
            continue
        return kind, rule.get("class")
    return kind, None


def _agent_name(agent: Any) -> str | None:
    if isinstance(agent, Mapping):
        return _text(agent.get("name"))
    return _text(agent) if agent else None


def _generator(m: Mapping[str, Any]) -> str:
    gen = m.get("claim_generator")
    if gen:
        return _text(gen) or ""
    return _text(", ".join(f"{g.get('name', '')} {g.get('version', '')}".strip()
                           for g in m.get("claim_generator_info") or [] if isinstance(g, Mapping))) or ""


def _actions(m: Mapping[str, Any], cap: int) -> tuple[list[dict[str, Any]], int]:
    out: list[dict[str, Any]] = []
    total = 0
    for a in m.get("assertions") or []:
        if not isinstance(a, Mapping) or not str(a.get("label", "")).startswith("c2pa.actions"):
            continue
        data = a.get("data")
        for x in (data.get("actions") if isinstance(data, Mapping) else None) or []:
            if not isinstance(x, Mapping):
                continue
            total += 1
            if len(out) < cap:
                out.append({"action": _text(x.get("action")), "digitalSourceType": _text(x.get("digitalSourceType")),
                            "softwareAgent": _agent_name(x.get("softwareAgent")),
                            "description": _text(x.get("description")), "when": _text(x.get("when"))})
    return out, total


def _kind(log_kind: str) -> str:
    return {"success": "success", "informational": "informational"}.get(log_kind, "failure")


def _entries(block: Any, source: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not isinstance(block, Mapping):
        return out
    for log_kind in ("success", "informational", "failure"):
        for f in block.get(log_kind) or []:
            if isinstance(f, Mapping) and f.get("code"):
                out.append({"code": str(f.get("code")), "kind": _kind(log_kind), "url": _text(f.get("url")) or "",
                            "explanation": _text(f.get("explanation")) or "", "source": source})
    return out


def _current_codes(results: Mapping[str, Any] | None, active: str,
                   ingredient_of: Mapping[tuple[str, str], str]) -> dict[str, list[dict[str, Any]]]:
    """Status codes the library produced now, by the manifest they concern."""
    by: dict[str, list[dict[str, Any]]] = {}
    if not isinstance(results, Mapping):
        return by
    for e in _entries(results.get("activeManifest"), "validation"):
        by.setdefault(manifest_label(e["url"]) or active, []).append(e)
    for delta in results.get("ingredientDeltas") or []:
        if not isinstance(delta, Mapping):
            continue
        uri = str(delta.get("ingredientAssertionURI") or "")
        parent = manifest_label(uri) or active
        assertion = uri.rsplit("/", 1)[-1]
        default = ingredient_of.get((parent, assertion))
        for e in _entries(delta.get("validationDeltas"), "validation"):
            label = manifest_label(e["url"]) or default
            if label:
                by.setdefault(label, []).append(e)
    return by


def _recorded_codes(manifests: Mapping[str, Any]) -> dict[str, list[dict[str, Any]]]:
    """Status codes each parent's signer recorded for the ingredient manifests it took in."""
    by: dict[str, list[dict[str, Any]]] = {}
    for parent, m in manifests.items():
        if not isinstance(m, Mapping):
            continue
        for ing in m.get("ingredients") or []:
            if not isinstance(ing, Mapping) or not ing.get("active_manifest"):
                continue
            label = str(ing["active_manifest"])
            vr = ing.get("validation_results")
            entries = _entries(vr.get("activeManifest"), f"recorded by {parent}") if isinstance(vr, Mapping) else []
            for f in ing.get("validation_status") or []:  # C2PA 1.x: the failures only
                if isinstance(f, Mapping) and f.get("code"):
                    entries.append({"code": str(f["code"]), "kind": "failure", "url": _text(f.get("url")) or "",
                                    "explanation": _text(f.get("explanation")) or "", "source": f"recorded by {parent}"})
            if entries and label not in by:
                by[label] = [e for e in entries if (manifest_label(e["url"]) or label) == label]
    return by


def _dimensions(current: Sequence[dict[str, Any]], recorded: Sequence[dict[str, Any]], *, is_active: bool,
                trust_configured: bool, policy: Mapping[str, Any]) -> dict[str, Any]:
    table: Mapping[str, Any] = policy.get("status_codes") or {}

    def dim_of(e: Mapping[str, Any]) -> str:
        spec = table.get(e["code"])
        return str(spec[0]) if spec else "other"

    cur_dims = {dim_of(e) for e in current}
    from_record = [e for e in recorded if dim_of(e) not in cur_dims]
    codes = list(current) + from_record
    seen: dict[str, set[str]] = {}
    other_failures: list[str] = []
    for e in codes:
        spec = table.get(e["code"])
        if spec is None:
            if e["kind"] == "failure" and not e["code"].startswith("cawg."):
                other_failures.append(e["code"])
            continue
        seen.setdefault(str(spec[0]), set()).add(str(spec[1]))

    def pick(dim: str, order: Sequence[str], default: str) -> str:
        vals = seen.get(dim, set())
        return next((v for v in order if v in vals), default)

    structure = pick("structure", ("broken", "ok"), "ok")
    assertions = pick("assertions", ("broken", "ok"), "unknown")
    content = pick("content", ("broken", "ok"), "unknown") if is_active else "not_applicable"
    link = "not_applicable" if is_active else pick("link", ("broken", "missing", "ok"), "unknown")
    parts = (structure, assertions, content, link)
    if "broken" in parts:
        integrity = "broken"
    elif (structure == "ok" and assertions == "ok" and content in ("ok", "not_applicable")
          and link in ("ok", "not_applicable") and not other_failures):
        integrity = "intact"
    else:
        integrity = "unknown"
    trust = pick("trust", ("untrusted", "trusted"), "unknown")
    if not trust_configured and trust == "untrusted":
        trust = "unknown"  # nothing to be trusted against: the library's 'untrusted' says nothing
    out: dict[str, Any] = {
        "integrity": integrity,
        "structure": structure,
        "assertions": assertions,
        "content": content,
        "ingredient_link": link,
        "signature": pick("signature", ("invalid", "valid"), "unknown"),
        "trust": trust,
        "credential": pick("credential", ("invalid", "outside_validity", "expired", "valid"), "unknown"),
        "timestamp": pick("timestamp", ("trusted", "untrusted", "invalid", "validated"), "absent"),
        "revocation": pick("revocation", ("revoked", "not_revoked", "unknown", "not_checked"), "not_checked"),
        "unclassified_failures": sorted(set(other_failures)),
        # dimensions the library did not re-establish here: as the parent's signer recorded them
        "recorded": sorted({_PART_OF.get(dim_of(e), dim_of(e)) for e in from_record} & set(DIMENSION_ORDER)),
    }
    out["summary"] = _summary_text(out) + (f" [{', '.join(out['recorded'])} as recorded by the parent's signer]"
                                           if out["recorded"] else "")
    out["codes"] = [{k: e[k] for k in ("code", "kind", "explanation", "source")} for e in codes[:int(
        (policy.get("limits") or {}).get("max_codes", 256))]]
    return out


def _summary_text(d: Mapping[str, Any]) -> str:
    integrity = {"intact": "hashes intact", "broken": "hashes BROKEN", "unknown": "hashes not established"}
    signature = {"valid": "signature valid", "invalid": "signature INVALID", "unknown": "signature not checked"}
    trust = {"trusted": "signer trusted", "untrusted": "signer untrusted", "unknown": "signer trust unknown"}
    cred = {"valid": "certificate valid at signing", "expired": "certificate expired",
            "outside_validity": "signed outside the certificate's validity",
            "invalid": "certificate not acceptable for C2PA", "unknown": "certificate validity unknown"}
    ts = {"trusted": "trusted timestamp", "untrusted": "timestamp from an untrusted authority",
          "invalid": "timestamp invalid", "validated": "timestamp (authority not checked)", "absent": "no timestamp"}
    rev = {"revoked": "REVOKED", "not_revoked": "not revoked (stapled OCSP)", "unknown": "revocation unknown",
           "not_checked": "revocation not checked (offline)"}
    return ", ".join((integrity[d["integrity"]], signature[d["signature"]], trust[d["trust"]],
                      f"{cred[d['credential']]} ({ts[d['timestamp']]})", rev[d["revocation"]]))


def _traces(node: Mapping[str, Any], m: Mapping[str, Any], policy: Mapping[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []

    def look(source: str, value: str | None) -> None:
        if not value:
            return
        for rx in _GEN_RE:
            hit = rx.search(value)
            if hit:
                out.append({"manifest": node["label"], "source": source, "value": value, "match": hit.group(0)})
                return

    look("claim_generator", node["claim_generator"])
    for a in node["actions"]:
        look(f"{a['action']}.softwareAgent", a.get("softwareAgent"))
    vendor = set(policy.get("vendor_ai_assertions") or ())
    for a in m.get("assertions") or []:
        label = str(a.get("label", "")) if isinstance(a, Mapping) else ""
        if label in vendor:
            data = a.get("data")
            desc = _text(data.get("description")) if isinstance(data, Mapping) else None
            out.append({"manifest": node["label"], "source": f"assertion {label}", "value": desc or label,
                        "match": label})
    return out


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _name(dn: Any) -> str | None:
    if not isinstance(dn, Mapping):
        return None
    return _text(", ".join(f"{k}={v}" for k, v in dn.items() if k in ("CN", "O", "OU", "C") and v))


def certificates(crjson: Mapping[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Signing certificate and timestamp of each manifest, from the library's ``Reader.crjson()``."""
    out: dict[str, dict[str, Any]] = {}
    manifests = crjson.get("manifests") if isinstance(crjson, Mapping) else None
    for m in manifests if isinstance(manifests, list) else []:
        sig = m.get("signature") if isinstance(m, Mapping) else None
        if not isinstance(sig, Mapping) or not m.get("label"):
            continue
        cert = _mapping(sig.get("certificateInfo"))
        validity = _mapping(cert.get("validity"))
        ts = _mapping(sig.get("timeStampInfo"))
        ts_cert = _mapping(ts.get("certificateInfo"))
        out[str(m["label"])] = {
            "subject": _name(cert.get("subject")), "issuer": _name(cert.get("issuer")),
            "serial": _text(cert.get("serialNumber")), "not_before": _text(validity.get("notBefore")),
            "not_after": _text(validity.get("notAfter")),
            "timestamp": ({"time": _text(ts.get("timestamp")), "authority": _name(ts_cert.get("subject"))}
                          if ts else None),
        }
    return out


def read_store(report: Mapping[str, Any], results: Mapping[str, Any] | None, state: str | None, *,
               trust_configured: bool = True, policy: Mapping[str, Any] | None = None,
               certs: Mapping[str, Mapping[str, Any]] | None = None) -> dict[str, Any]:
    """The reading of a manifest store: ``report`` is the library's JSON report (``Reader.json()``),
    ``results`` its validation results, ``state`` its one-word state, ``certs`` what
    :func:`certificates` made of ``Reader.crjson()`` (signing certificates and timestamps)."""
    pol = policy or C2PA_READING
    limits = pol.get("limits") or {}
    max_depth = int(limits.get("max_depth", 16))
    max_manifests = int(limits.get("max_manifests", 256))
    max_ingredients = int(limits.get("max_ingredients", 128))
    max_actions = int(limits.get("max_actions", 128))
    roles: Mapping[str, str] = pol.get("relationships") or {}
    counted_roles = set(pol.get("counted_roles") or ("derived", "component"))
    manifests_raw = report.get("manifests")
    manifests: dict[str, Any] = ({str(k): v for k, v in manifests_raw.items() if len(str(k)) <= _LABEL_MAX}
                                 if isinstance(manifests_raw, Mapping) else {})
    active = str(report.get("active_manifest") or "")[:_LABEL_MAX]

    ingredient_of: dict[tuple[str, str], str] = {}
    for parent, m in manifests.items():
        for ing in (m.get("ingredients") if isinstance(m, Mapping) else None) or []:
            if isinstance(ing, Mapping) and ing.get("label") and ing.get("active_manifest"):
                ingredient_of[(str(parent), str(ing["label"]))] = str(ing["active_manifest"])
    current = _current_codes(results, active, ingredient_of)
    recorded = _recorded_codes(manifests)

    nodes: list[dict[str, Any]] = []
    index: dict[tuple[str, bool], dict[str, Any]] = {}
    truncated: list[str] = []
    queue: deque[tuple[str, int, list[dict[str, Any]]]] = deque([(active, 0, [])]) if active else deque()
    while queue:
        label, depth, path = queue.popleft()
        via = "derived"
        for edge in path:
            if edge["role"] not in counted_roles:
                via = edge["role"]
                break
            if edge["role"] == "component":
                via = "component"
        is_counted = via in counted_roles
        seen_node = index.get((label, is_counted)) or (index.get((label, True)) if not is_counted else None)
        if seen_node is not None:
            if path and len(seen_node.setdefault("also_via", [])) < max_ingredients:
                seen_node["also_via"].append({k: path[-1][k] for k in ("from", "relationship")})
            continue
        if len(index) >= max_manifests:
            truncated.append(f"more than {max_manifests} manifests")
            continue
        m = manifests.get(label)
        node: dict[str, Any] = {"label": label, "depth": depth, "counted": is_counted, "via": via,
                                "path": [dict(e) for e in path], "in_store": isinstance(m, Mapping)}
        index[(label, is_counted)] = node
        nodes.append(node)
        if not isinstance(m, Mapping):
            node.update({"claim_generator": "", "actions": [], "ingredients": [], "signer": {}})
            continue
        actions, n_actions = _actions(m, max_actions)
        sig_raw = m.get("signature_info")
        sig: Mapping[str, Any] = sig_raw if isinstance(sig_raw, Mapping) else {}
        node.update({
            "claim_generator": _generator(m),
            "title": _text(m.get("title")),
            "claim_version": m.get("claim_version") if isinstance(m.get("claim_version"), int) else None,
            "signer": {"issuer": _text(sig.get("issuer")), "common_name": _text(sig.get("common_name")),
                       "alg": _text(sig.get("alg")), "time": _text(sig.get("time")),
                       "cert_serial_number": _text(sig.get("cert_serial_number"))},
            "actions": actions,
            "actions_total": n_actions,
            "certificate": dict((certs or {}).get(label) or {}) or None,
        })
        ingredients = [i for i in (m.get("ingredients") or []) if isinstance(i, Mapping)]
        if len(ingredients) > max_ingredients:
            truncated.append(f"{len(ingredients)} ingredients in {label} (limit {max_ingredients})")
        node["ingredients"] = []
        for ing in ingredients[:max_ingredients]:
            rel = str(ing.get("relationship") or "")
            child = str(ing["active_manifest"])[:_LABEL_MAX] if ing.get("active_manifest") else None
            node["ingredients"].append({"title": _text(ing.get("title")), "format": _text(ing.get("format")),
                                        "relationship": rel, "manifest": _text(child), "label": _text(ing.get("label"))})
            if child is None:
                continue
            if depth + 1 > max_depth:
                truncated.append(f"ingredient graph deeper than {max_depth}")
                continue
            edge = {"from": label, "relationship": rel, "role": roles.get(rel, "other"),
                    "ingredient": _text(ing.get("title")), "assertion": _text(ing.get("label"))}
            queue.append((child, depth + 1, [*path, edge]))

    # validation, per manifest
    for node in nodes:
        node["validation"] = _dimensions(current.get(node["label"], []), recorded.get(node["label"], []),
                                         is_active=node["depth"] == 0, trust_configured=trust_configured,
                                         policy=pol)
        if not node["in_store"]:
            node["validation"]["summary"] = "referenced by its parent but not in the store: " + node["validation"][
                "summary"]

    # declarations and traces
    declarations: list[dict[str, Any]] = []
    traces: list[dict[str, Any]] = []
    for node in nodes:
        m = manifests.get(node["label"])
        # an uncounted manifest (an input to a generator) is classified for what it says about itself
        via = "derived" if node["depth"] == 0 or not node["counted"] else node["via"]
        for a in node["actions"]:
            dst = a.get("digitalSourceType")
            if not dst:
                continue
            kind, cls = classify(dst, a.get("action") or "", via, pol)
            declarations.append({"manifest": node["label"], "depth": node["depth"], "counted": node["counted"],
                                 "via": via, "action": a.get("action"), "digitalSourceType": dst,
                                 "code": _code_of(dst), "kind": kind, "class": cls,
                                 "softwareAgent": a.get("softwareAgent"), "description": a.get("description"),
                                 "path": node["path"]})
        if node["counted"] and isinstance(m, Mapping):
            traces.extend(_traces(node, m, pol))

    counted = [d for d in declarations if d["counted"]]
    classes = {d["class"] for d in counted}
    ai = "generated" if "generated" in classes else "composite" if "composite" in classes else None
    ai_decls = [d for d in counted if d["class"] in ("generated", "composite")]
    over = [active] if active else []
    for d in ai_decls:
        for label in [e["from"] for e in d["path"]] + [d["manifest"]]:
            if label not in over:
                over.append(label)
    by_label = {n["label"]: n for n in nodes if n["counted"]}
    assessment: dict[str, Any] = {"over": over}
    for dim, order in DIMENSION_ORDER.items():
        vals = {by_label[x]["validation"][dim] for x in over if x in by_label}
        assessment[dim] = next((v for v in order if v in vals), None)
    if all(assessment[d] is not None for d in DIMENSION_ORDER):
        assessment["summary"] = _summary_text(assessment)
    active_node = nodes[0] if nodes and nodes[0]["depth"] == 0 else None
    dsts: list[str] = []
    for d in counted:
        if d["digitalSourceType"] not in dsts:
            dsts.append(d["digitalSourceType"])
    return {
        "present": True,
        "state": state,
        "active_manifest": active or None,
        "manifests": len(manifests),
        "claim_generator": active_node["claim_generator"] if active_node else "",
        "title": active_node.get("title") if active_node else None,
        "signer": active_node["signer"] if active_node else {},
        "actions": [{"action": a["action"], "digitalSourceType": a["digitalSourceType"]}
                    for a in (active_node["actions"] if active_node else [])],
        "ingredients": [{"title": i["title"], "format": i["format"], "relationship": i["relationship"],
                         "active_manifest": i["manifest"]} for i in (active_node["ingredients"] if active_node else [])],
        "digital_source_types": dsts,
        "ai": ai,
        "ai_in": (None if not ai_decls else "active" if any(d["depth"] == 0 for d in ai_decls) else "ingredient"),
        "possibly_ai": "possibly_ai" in classes,
        "capture": "capture" in classes and ai is None,
        "declarations": declarations,
        "trace": bool(traces),
        "traces": traces,
        "assessment": assessment,
        "chain": nodes,
        "truncated": sorted(set(truncated)),
        "reading_policy": str(pol.get("version", "")),
    }


def store_error(exc_name: str, message: str) -> dict[str, Any]:
    """The reading of a store the library refused to parse (``present`` with the reason)."""
    msg = _text(message) or ""
    low = msg.lower()
    remote = low.startswith("remote") or "remote manifest" in low
    unsupported = "prerelease" in low or "notsupported" in exc_name.lower() or low.startswith("not supported")
    integrity = "unknown" if remote or unsupported else "broken"
    assessment: dict[str, Any] = {"over": [], "integrity": integrity, "signature": "unknown", "trust": "unknown",
                                  "credential": "unknown", "timestamp": "absent", "revocation": "not_checked"}
    if remote:
        assessment["summary"] = "the manifest is stored remotely and remote fetching is off (offline): not read"
    elif unsupported:
        assessment["summary"] = f"the manifest store is in a form the C2PA library does not read: {msg}"
    else:
        assessment["summary"] = f"the manifest store could not be parsed: {msg}"
    return {"present": True, "state": "Invalid", "ai": None, "ai_in": None, "possibly_ai": False, "capture": False,
            "digital_source_types": [], "declarations": [], "trace": False, "traces": [], "chain": [],
            "truncated": [], "assessment": assessment, "remote": remote,
            "failures": [{"scope": "store", "code": exc_name, "explanation": msg, "url": "", "manifest": None}]}


def summary_rows(section: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Human-readable (name, value) rows of a C2PA reading, for tables (``label check``, review UI)."""
    rows: list[tuple[str, str]] = []
    if not section.get("present"):
        return [("C2PA", "none" + (f" ({section['reason']})" if section.get("reason") else ""))]
    a = section.get("assessment") or {}
    rows.append(("C2PA", f"{section.get('manifests', 0)} manifest(s), library state {section.get('state')}"))
    if a.get("summary"):
        rows.append(("C2PA validation", str(a["summary"])))
    ai = section.get("ai")
    rows.append(("C2PA declares", f"AI {ai} (in the {section.get('ai_in')} manifest)" if ai else
                 "no AI digital source type" + (" (possibly AI: algorithmic enhancement)"
                                                if section.get("possibly_ai") else "")))
    uncounted = 0
    for d in section.get("declarations") or []:
        if d.get("kind") is None:
            continue
        if not d.get("counted"):
            uncounted += 1
            continue
        hops = " > ".join(f"{e['relationship']} '{e.get('ingredient') or '?'}'" for e in d.get("path") or [])
        where = f"{d['manifest']}" + (f" (via {hops})" if hops else " (active)")
        rows.append(("C2PA source", f"{d['action']} {d['code']} -> {d['class']} in {where}"))
    if uncounted:
        rows.append(("C2PA source", f"{uncounted} more on ingredients that were inputs to a generator (inputTo): "
                                    "shown in the JSON, not counted"))
    for node in section.get("chain") or []:
        v = node.get("validation") or {}
        signer = node.get("signer") or {}
        who = " / ".join(x for x in (signer.get("issuer"), signer.get("common_name")) if x) or "?"
        cert = node.get("certificate") or {}
        valid = (f" (certificate valid {str(cert.get('not_before'))[:10]} to {str(cert.get('not_after'))[:10]})"
                 if cert.get("not_after") else "")
        rows.append((f"C2PA manifest d{node.get('depth')}",
                     f"{node.get('label')} by {node.get('claim_generator') or '?'}, signed by {who}{valid}: "
                     f"{v.get('summary', 'not in the store')}"))
    for t in section.get("traces") or []:
        rows.append(("C2PA generator", f"{t['source']}: {t['value']}"))
    for why in section.get("truncated") or []:
        rows.append(("C2PA truncated", why))
    return rows
