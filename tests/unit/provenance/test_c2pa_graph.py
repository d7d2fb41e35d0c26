"""The C2PA graph reading on hand-built manifest stores: walking, classifying, translating status codes.

The stores here have the shape the C2PA library's ``Reader.json()`` and ``get_validation_results()``
give (see the real files in ``test_c2pa_wild.py``); building them by hand reaches the cases real
files rarely show together: cycles, deep and wide graphs, hostile labels, every validation code.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from synthwatch.provenance.c2pa_graph import classify, manifest_label, read_store, store_error, summary_rows
from synthwatch.provenance.decision import decide
from synthwatch.provenance.rules import C2PA_READING

AI = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
AI_COMPOSITE = "http://cv.iptc.org/newscodes/digitalsourcetype/compositeWithTrainedAlgorithmicMedia"
CAPTURE = "http://cv.iptc.org/newscodes/digitalsourcetype/digitalCapture"
ENHANCED = "http://cv.iptc.org/newscodes/digitalsourcetype/algorithmicallyEnhanced"

GOOD = ["claimSignature.validated", "claimSignature.insideValidity", "assertion.hashedURI.match"]


def manifest(label: str, actions: list[tuple[str, str | None]], ingredients: list[dict[str, Any]] = (),  # type: ignore[assignment]
             generator: str = "Producer 1.0") -> dict[str, Any]:
    acts = [{"action": a, **({"digitalSourceType": d} if d else {})} for a, d in actions]
    return {"label": label, "claim_generator_info": [{"name": generator}],
            "assertions": [{"label": "c2pa.actions.v2", "data": {"actions": acts}}],
            "ingredients": list(ingredients),
            "signature_info": {"issuer": "Org", "common_name": f"signer of {label}", "alg": "Es256"}}


def ingredient(child: str | None, relationship: str = "parentOf", n: int = 0,
               recorded: list[str] | None = None) -> dict[str, Any]:
    ing: dict[str, Any] = {"title": f"in-{child}", "relationship": relationship,
                           "label": "c2pa.ingredient.v3" + (f"__{n}" if n else "")}
    if child:
        ing["active_manifest"] = child
    if recorded is not None:
        ing["validation_results"] = {"activeManifest": {"success": [
            {"code": c, "url": f"self#jumbf=/c2pa/{child}/c2pa.signature"} for c in recorded]}}
    return ing


def codes(label: str, success: list[str], failure: list[str] = (), info: list[str] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    def e(c: str) -> dict[str, str]:
        return {"code": c, "url": f"self#jumbf=/c2pa/{label}/c2pa.signature", "explanation": c}
    return {"success": [e(c) for c in success], "failure": [e(c) for c in failure],
            "informational": [e(c) for c in info]}


def store(*manifests: dict[str, Any], active: str | None = None) -> dict[str, Any]:
    return {"active_manifest": active or manifests[0]["label"], "manifests": {m["label"]: m for m in manifests}}


def results(active: dict[str, Any], deltas: list[tuple[str, str, dict[str, Any]]] = ()) -> dict[str, Any]:  # type: ignore[assignment]
    return {"activeManifest": active,
            "ingredientDeltas": [{"ingredientAssertionURI": f"self#jumbf=/c2pa/{parent}/c2pa.assertions/{assertion}",
                                  "validationDeltas": d} for parent, assertion, d in deltas]}


def chatgpt_like() -> tuple[dict[str, Any], dict[str, Any]]:
    """The shape of a 2025 ChatGPT image: 'opened' on top, 'created' with the AI type in the parent."""
    parent = manifest("urn:p", [("c2pa.created", AI), ("c2pa.converted", None)])
    top = manifest("urn:a", [("c2pa.opened", None)],
                   [ingredient("urn:p", recorded=[*GOOD, "assertion.dataHash.match"])])
    res = results(codes("urn:a", [*GOOD, "assertion.dataHash.match"],
                        ["signingCredential.untrusted", "signingCredential.expired"], ["signingCredential.ocsp.skipped"]),
                  [("urn:a", "c2pa.ingredient.v3", codes("urn:p", ["ingredient.manifest.validated"],
                                                         ["signingCredential.untrusted"]))])
    return store(top, parent), res


def test_the_ai_declaration_of_a_parent_ingredient_counts() -> None:
    report, res = chatgpt_like()
    r = read_store(report, res, "Invalid")
    assert (r["ai"], r["ai_in"]) == ("generated", "ingredient")
    assert r["digital_source_types"] == [AI]
    (d,) = [x for x in r["declarations"] if x["class"]]
    assert (d["manifest"], d["action"], d["depth"]) == ("urn:p", "c2pa.created", 1)
    assert [(e["from"], e["relationship"]) for e in d["path"]] == [("urn:a", "parentOf")]
    a = r["assessment"]
    assert a["over"] == ["urn:a", "urn:p"]
    assert (a["integrity"], a["signature"], a["trust"], a["credential"], a["timestamp"], a["revocation"]) == (
        "intact", "valid", "untrusted", "expired", "absent", "not_checked")
    top, parent = r["chain"]
    assert top["validation"]["content"] == "ok" and parent["validation"]["content"] == "not_applicable"
    assert parent["validation"]["ingredient_link"] == "ok"
    # the parent's own checks as its signer's successor recorded them; its trust as validated now
    assert parent["validation"]["trust"] == "untrusted" and "signature" in parent["validation"]["recorded"]
    assert {c["source"] for c in parent["validation"]["codes"]} == {"validation", "recorded by urn:a"}
    decision = decide({"c2pa": r})
    assert (decision.label, decision.rule) == ("3", "art6.3-c2pa-untrusted")
    json.dumps(r)


def test_recursion_through_several_parents_and_dag() -> None:
    m3 = manifest("urn:3", [("c2pa.created", AI)])
    m2 = manifest("urn:2", [("c2pa.opened", None), ("c2pa.resized", None)], [ingredient("urn:3")])
    m1 = manifest("urn:1", [("c2pa.opened", None)], [ingredient("urn:2"), ingredient("urn:3", "componentOf", 1)])
    r = read_store(store(m1, m2, m3), None, "Valid")
    # urn:3 is reached twice; it is listed once, through the shorter componentOf path
    labels = [n["label"] for n in r["chain"]]
    assert labels == ["urn:1", "urn:2", "urn:3"]
    three = r["chain"][2]
    assert three["via"] == "component" and three["also_via"] == [{"from": "urn:2", "relationship": "parentOf"}]
    assert r["ai"] == "composite"  # AI material placed into this content


def test_component_placement_and_ai_edits_are_composites() -> None:
    photo = manifest("urn:photo", [("c2pa.created", CAPTURE)])
    gen = manifest("urn:gen", [("c2pa.created", AI)])
    top = manifest("urn:top", [("c2pa.opened", None), ("c2pa.placed", None)],
                   [ingredient("urn:photo"), ingredient("urn:gen", "componentOf", 1)])
    r = read_store(store(top, photo, gen), None, "Valid")
    assert r["ai"] == "composite" and r["capture"] is False
    # an AI edit: c2pa.edited / c2pa.placed carrying trainedAlgorithmicMedia (Photoshop generative fill)
    fill = manifest("urn:fill", [("c2pa.opened", None), ("c2pa.placed", AI)], [ingredient("urn:photo")])
    r = read_store(store(fill, photo), None, "Valid")
    assert r["ai"] == "composite" and r["ai_in"] == "active"
    edited = manifest("urn:e", [("c2pa.edited", AI_COMPOSITE)])
    assert read_store(store(edited), None, "Valid")["ai"] == "composite"
    # a camera photo with no AI: capture, no AI
    r = read_store(store(photo), None, "Valid")
    assert (r["ai"], r["capture"], r["possibly_ai"]) == (None, True, False)


def test_input_to_ingredients_are_shown_not_counted() -> None:
    ref = manifest("urn:ref", [("c2pa.created", CAPTURE)])
    out = manifest("urn:out", [("c2pa.created", ENHANCED)], [ingredient("urn:ref", "inputTo")])
    r = read_store(store(out, ref), None, "Valid")
    ref_node = r["chain"][1]
    assert ref_node["counted"] is False and ref_node["via"] == "input"
    assert r["capture"] is False and r["possibly_ai"] is True and r["ai"] is None
    assert [d["counted"] for d in r["declarations"]] == [True, False]
    # an AI image used as a reference does not make a camera-made output AI
    gen = manifest("urn:gen", [("c2pa.created", AI)])
    cam = manifest("urn:cam", [("c2pa.created", CAPTURE)], [ingredient("urn:gen", "inputTo")])
    assert read_store(store(cam, gen), None, "Valid")["ai"] is None


@pytest.mark.parametrize(("dst", "action", "via", "cls"), [
    (AI, "c2pa.created", "derived", "generated"),
    (AI, "c2pa.created", "component", "composite"),
    (AI, "c2pa.edited", "derived", "composite"),
    (AI, "c2pa.placed", "derived", "composite"),
    (AI_COMPOSITE, "c2pa.created", "derived", "composite"),
    ("algorithmicMedia", "c2pa.created", "derived", "generated"),
    (ENHANCED, "c2pa.transcoded", "derived", "possibly_ai"),
    ("http://cv.iptc.org/newscodes/digitalsourcetype/computationalCapture", "c2pa.created", "derived", "capture"),
    ("http://cv.iptc.org/newscodes/digitalsourcetype/composite", "c2pa.edited", "derived", "human"),
    ("http://example.com/unknownType", "c2pa.created", "derived", None),
])
def test_classification_follows_the_policy_table(dst: str, action: str, via: str, cls: str | None) -> None:
    assert classify(dst, action, via)[1] == cls


def test_the_classification_is_data() -> None:
    pol = copy.deepcopy(C2PA_READING)
    pol["relationships"]["inputTo"] = "derived"  # a deployment that counts generator inputs
    gen = manifest("urn:gen", [("c2pa.created", AI)])
    cam = manifest("urn:cam", [("c2pa.opened", None)], [ingredient("urn:gen", "inputTo")])
    assert read_store(store(cam, gen), None, "Valid", policy=pol)["ai"] == "generated"


def test_cycles_depth_and_size_are_capped() -> None:
    a = manifest("urn:a", [("c2pa.opened", None)], [ingredient("urn:b")])
    b = manifest("urn:b", [("c2pa.created", AI)], [ingredient("urn:a")])  # a cycle back to the top
    r = read_store(store(a, b), None, "Valid")
    assert [n["label"] for n in r["chain"]] == ["urn:a", "urn:b"] and not r["truncated"]
    # a chain of 40 parents: only max_depth are walked, the rest is reported
    chain = [manifest(f"urn:{i}", [("c2pa.opened", None)], [ingredient(f"urn:{i + 1}")]) for i in range(40)]
    chain.append(manifest("urn:40", [("c2pa.created", AI)]))
    r = read_store(store(*chain), None, "Valid")
    assert len(r["chain"]) == C2PA_READING["limits"]["max_depth"] + 1
    assert r["ai"] is None and r["truncated"] == [f"ingredient graph deeper than {C2PA_READING['limits']['max_depth']}"]
    assert decide({"c2pa": r}).review[0][0] == "c2pa-truncated-review"
    # 600 ingredients on one manifest: capped per manifest and in total
    wide = manifest("urn:w", [("c2pa.opened", None)], [ingredient(f"urn:x{i}", n=i) for i in range(600)])
    leaves = [manifest(f"urn:x{i}", [("c2pa.created", CAPTURE)]) for i in range(600)]
    r = read_store(store(wide, *leaves), None, "Valid")
    assert len(r["chain"]) == 1 + C2PA_READING["limits"]["max_ingredients"]
    assert any("ingredients in urn:w" in t for t in r["truncated"])


def test_hostile_store_shapes_are_read_not_crashed_on() -> None:
    long_label = "urn:" + "x" * 5000
    bad = {"active_manifest": "urn:a", "manifests": {
        "urn:a": {"label": "urn:a", "assertions": [None, {"label": "c2pa.actions", "data": {"actions": [1, "x", {}]}},
                                                   {"label": "c2pa.actions.v2", "data": "nope"}],
                  "ingredients": [None, {"active_manifest": long_label, "relationship": "parentOf"},
                                  {"active_manifest": "urn:missing", "relationship": "parentOf"}],
                  "signature_info": "not a mapping", "title": "t" * 10_000,
                  "claim_generator": "g" * 10_000},
        long_label: {"label": long_label}}}
    r = read_store(bad, {"activeManifest": "nonsense", "ingredientDeltas": [None, {"validationDeltas": []}]}, None)
    assert r["present"] and r["ai"] is None
    assert len(r["title"]) <= 301 and len(r["claim_generator"]) <= 301
    missing = [n for n in r["chain"] if not n["in_store"]]
    assert [n["label"] for n in missing] == ["urn:" + "x" * 252, "urn:missing"]
    assert all(n["validation"]["summary"].startswith("referenced by its parent but not in the store") for n in missing)
    json.dumps(r)
    assert read_store({}, None, None)["chain"] == []


def test_manifest_labels_from_jumbf_urls() -> None:
    assert manifest_label("self#jumbf=/c2pa/urn:c2pa:86ab/c2pa.signature") == "urn:c2pa:86ab"
    assert manifest_label("self#jumbf=c2pa/urn:uuid:5acd/c2pa.assertions/c2pa.hash.boxes") == "urn:uuid:5acd"
    assert manifest_label("self#jumbf=/c2pa/adobe:5468a4d3/c2pa.signature") == "adobe:5468a4d3"
    assert manifest_label("self#jumbf=c2pa.assertions/c2pa.actions.v2") is None
    assert manifest_label(None) is None


@pytest.mark.parametrize(("success", "failure", "info", "expect"), [
    ([*GOOD, "assertion.dataHash.match", "signingCredential.trusted", "timeStamp.validated", "timeStamp.trusted",
      "signingCredential.ocsp.notRevoked"], [], [],
     {"integrity": "intact", "signature": "valid", "trust": "trusted", "credential": "valid",
      "timestamp": "trusted", "revocation": "not_revoked"}),
    ([*GOOD], ["assertion.dataHash.mismatch", "signingCredential.untrusted"], [],
     {"integrity": "broken", "content": "broken", "signature": "valid", "trust": "untrusted"}),
    (["claimSignature.insideValidity", "assertion.hashedURI.match", "assertion.bmffHash.match"],
     ["claimSignature.mismatch"], ["timeStamp.mismatch"],
     {"integrity": "intact", "signature": "invalid", "timestamp": "invalid"}),
    ([*GOOD, "assertion.dataHash.match"], ["assertion.hashedURI.mismatch"], [],
     {"integrity": "broken", "assertions": "broken"}),
    ([*GOOD, "assertion.boxesHash.match"], ["signingCredential.expired", "signingCredential.untrusted"],
     ["timeStamp.untrusted", "signingCredential.ocsp.skipped"],
     {"credential": "expired", "timestamp": "untrusted", "revocation": "not_checked"}),
    ([*GOOD, "assertion.dataHash.match", "signingCredential.trusted"], ["signingCredential.ocsp.revoked"], [],
     {"revocation": "revoked", "trust": "trusted"}),
    ([*GOOD, "assertion.dataHash.match"], ["signingCredential.invalid"], [], {"credential": "invalid"}),
    ([*GOOD, "assertion.dataHash.match"], ["claimSignature.outsideValidity"], [], {"credential": "outside_validity"}),
    ([*GOOD, "assertion.dataHash.match"], ["claim.cbor.invalid"], [], {"integrity": "broken", "structure": "broken"}),
    ([*GOOD, "assertion.dataHash.match"], ["some.future.failure"], [],
     {"integrity": "unknown", "unclassified_failures": ["some.future.failure"]}),
    ([*GOOD], [], [], {"integrity": "unknown", "content": "unknown"}),
])
def test_status_codes_are_translated_per_dimension(success: list[str], failure: list[str], info: list[str],
                                                   expect: dict[str, Any]) -> None:
    m = manifest("urn:a", [("c2pa.created", AI)])
    r = read_store(store(m), results(codes("urn:a", success, failure, info)), "Invalid")
    v = r["chain"][0]["validation"]
    for k, want in expect.items():
        assert v[k] == want, (k, v)
    assert {c["code"] for c in v["codes"]} == set(success) | set(failure) | set(info)


def test_without_any_trust_list_the_signer_is_unknown_not_untrusted() -> None:
    m = manifest("urn:a", [("c2pa.created", AI)])
    res = results(codes("urn:a", [*GOOD, "assertion.dataHash.match"], ["signingCredential.untrusted"]))
    assert read_store(store(m), res, "Valid", trust_configured=False)["assessment"]["trust"] == "unknown"
    assert read_store(store(m), res, "Valid")["assessment"]["trust"] == "untrusted"


def test_current_validation_overrides_what_the_parent_recorded() -> None:
    report, res = chatgpt_like()
    # the parent recorded 'trusted' when it took the ingredient in; re-validated here it is not
    report["manifests"]["urn:a"]["ingredients"][0]["validation_results"]["activeManifest"]["success"].append(
        {"code": "signingCredential.trusted", "url": "self#jumbf=/c2pa/urn:p/c2pa.signature"})
    r = read_store(report, res, "Invalid")
    assert r["chain"][1]["validation"]["trust"] == "untrusted"
    # with no delta, the record stands (the library found nothing different)
    res["ingredientDeltas"][0]["validationDeltas"] = codes("urn:p", ["ingredient.manifest.validated"])
    r = read_store(report, res, "Invalid")
    assert r["chain"][1]["validation"]["trust"] == "trusted" and "trust" in r["chain"][1]["validation"]["recorded"]
    # a broken link to the ingredient manifest breaks the declaration's integrity
    res["ingredientDeltas"][0]["validationDeltas"] = codes("urn:p", [], ["ingredient.manifest.mismatch"])
    r = read_store(report, res, "Invalid")
    assert r["chain"][1]["validation"]["ingredient_link"] == "broken"
    assert r["assessment"]["integrity"] == "broken"
    assert decide({"c2pa": r}).rule == "art6.3-c2pa-unverified"


def test_generator_traces_without_a_source_type() -> None:
    bing = manifest("urn:b", [("c2pa.created", None)], generator="Microsoft_Responsible_AI")
    bing["assertions"][0]["data"]["actions"][0]["softwareAgent"] = "Image Creator from Designer"
    r = read_store(store(bing), None, "Valid")
    assert r["ai"] is None and r["trace"] and r["traces"][0]["match"].lower().startswith("image creator")
    firefly_2023 = manifest("urn:f", [("c2pa.created", None)], generator="Adobe_Firefly/1.0")
    firefly_2023["assertions"].append({"label": "com.adobe.generative-ai", "data": {"description": "Adobe Firefly"}})
    r = read_store(store(firefly_2023), None, "Valid")
    assert [t["source"] for t in r["traces"]] == ["assertion com.adobe.generative-ai"]
    camera = manifest("urn:c", [("c2pa.created", CAPTURE)], generator="Leica Camera")
    assert read_store(store(camera), None, "Valid")["trace"] is False


def test_stores_the_library_cannot_read() -> None:
    remote = store_error("C2paError", "Remote: must fetch remote manifests from url https://x")
    assert remote["remote"] and remote["assessment"]["integrity"] == "unknown"
    old = store_error("C2paOther", "Other: prerelease content detected")
    assert old["assessment"]["integrity"] == "unknown"
    broken = store_error("C2paDecoding", "Decoding: bad JUMBF")
    assert broken["assessment"]["integrity"] == "broken" and broken["failures"][0]["scope"] == "store"
    assert decide({"c2pa": broken}).label is None


def test_summary_rows_name_the_path() -> None:
    report, res = chatgpt_like()
    rows = dict(summary_rows(read_store(report, res, "Invalid")))
    assert rows["C2PA declares"] == "AI generated (in the ingredient manifest)"
    assert "via parentOf 'in-urn:p'" in rows["C2PA source"]
    assert "certificate expired (no timestamp)" in rows["C2PA validation"]
    assert summary_rows({"present": False, "reason": "C2PA is not read from mkv files"}) == [
        ("C2PA", "none (C2PA is not read from mkv files)")]
