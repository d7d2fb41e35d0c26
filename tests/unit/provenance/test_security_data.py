"""SecurityData in ReservedCode1/2: SM2 signatures over the label and the content, and every failure."""

from __future__ import annotations

import base64
import json
from dataclasses import replace
from pathlib import Path

import pytest
from prov_media import copy
from typer.testing import CliRunner

from synthwatch.cli.label import app
from synthwatch.provenance import (
    AIGCLabel,
    apply_label,
    generate_sm2_key,
    inspect,
    load_sm2_key,
    parse_label,
    read_label,
    verify_label,
    write_label,
)
from synthwatch.provenance.errors import SecurityDataError
from synthwatch.provenance.security_data import SM2Key, content_digest, make_block, sign_label

pytest.importorskip("gmssl", reason="gmssl is not installed")


@pytest.fixture(scope="module")
def key() -> SM2Key:
    return generate_sm2_key()


def test_key_pair_and_block_round_trip(key: SM2Key) -> None:
    assert len(key.private_key) == 64 and len(key.public_key) == 128
    assert SM2Key.from_private(key.private_key) == key  # the public key is derived from the private one
    lab = AIGCLabel.as_producer("1", "PROD", "id1")
    signed = sign_label(lab, key, scope="producer", content="sm3:" + "ab" * 32)
    value = signed.reserved_code1
    assert all(0x21 <= ord(c) <= 0x7E for c in value) and '"' not in value and "\\" not in value
    reading = parse_label(signed.to_json())
    assert reading.valid  # a SecurityData block is a conforming ReservedCode1 value
    info = reading.security
    assert info.present and info.kind == "SecurityData" and info.verified is True
    assert info.blocks[0]["key_id"] == key.key_id and info.blocks[0]["scope"] == "producer"
    body = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))["SecurityData"]
    assert body["alg"] == "SM2-SM3" and body["pk"] == key.public_key and len(body["sig"]) == 128


def test_every_changed_byte_fails(key: SM2Key) -> None:
    lab = sign_label(AIGCLabel.as_producer("1", "PROD", "id1"), key, scope="producer")
    assert verify_label(lab).verified is True
    for field in ("label", "content_producer", "produce_id"):
        altered = replace(lab, **{field: getattr(lab, field) + "x" if field != "label" else "3"})
        info = verify_label(altered)
        assert info.verified is False and "does not match" in info.reason, field
    value = lab.reserved_code1
    body = json.loads(base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)))
    sig = body["SecurityData"]["sig"]
    for i in (0, 64, 127):  # one hex digit of r or s changed
        bad = dict(body["SecurityData"], sig=sig[:i] + ("0" if sig[i] != "0" else "1") + sig[i + 1:])
        raw = base64.urlsafe_b64encode(json.dumps({"SecurityData": bad}).encode()).decode().rstrip("=")
        assert verify_label(replace(lab, reserved_code1=raw)).verified is False
    other = generate_sm2_key()  # a block that claims another key
    forged = dict(body["SecurityData"], pk=other.public_key, kid=other.key_id)
    raw = base64.urlsafe_b64encode(json.dumps({"SecurityData": forged}).encode()).decode().rstrip("=")
    assert verify_label(replace(lab, reserved_code1=raw)).verified is False
    # a producer block moved to the propagator's field is refused
    moved = replace(lab, reserved_code1="", reserved_code2=lab.reserved_code1)
    info = verify_label(moved)
    assert info.verified is False and "must be in ReservedCode1" in info.reason


def test_absent_opaque_and_foreign_layouts() -> None:
    assert verify_label(AIGCLabel.as_producer("1", "P", "i")).present is False
    foreign = base64.b64encode(b'{"SecurityData":{"sig":"00","hash":"x"}}').decode()
    info = verify_label(AIGCLabel("1", "P", "i", foreign, "P", "i", ""))
    assert info.present and info.kind == "SecurityData" and info.verified is None
    assert "not verifiable" in info.reason
    info = verify_label(AIGCLabel("1", "P", "i", "opaque-token", "P", "i", ""))
    assert info.kind == "opaque" and info.verified is None


@pytest.mark.parametrize("name", ["wav", "png", "mp4", "flac", "jpeg"])
def test_apply_signs_and_check_verifies_content(name: str, key: SM2Key, media: dict[str, Path],
                                                tmp_path: Path) -> None:
    out = tmp_path / f"s{media[name].suffix}"
    reading = apply_label(media[name], out, producer="PROD", security_key=key)
    assert reading.security.verified is True and "content digest matches" in reading.security.reason
    section = inspect(out, audio_watermark=False)
    sec = section["aigc"]["label"]["security"]
    assert section["aigc"]["valid"] and sec["verified"] is True
    assert sec["blocks"][0]["content"] == content_digest(media[name])  # labelling did not change the essence
    # the next platform keeps the producer's block and signs its own over all fields
    shared = tmp_path / f"p{media[name].suffix}"
    platform = generate_sm2_key()
    r2 = apply_label(out, shared, propagator="PLAT", security_key=platform)
    assert r2.label.reserved_code1 == reading.label.reserved_code1 and r2.label.reserved_code2
    assert r2.security.verified is True and len(r2.security.blocks) == 2


def test_changed_media_byte_fails(key: SM2Key, media: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "s.wav"
    apply_label(media["wav"], out, producer="PROD", security_key=key)
    data = bytearray(out.read_bytes())
    pos = data.find(b"data") + 8 + 1000  # a PCM sample byte
    data[pos] ^= 0x01
    tampered = tmp_path / "t.wav"
    tampered.write_bytes(bytes(data))
    section = inspect(tampered, audio_watermark=False)
    sec = section["aigc"]["label"]["security"]
    assert sec["verified"] is False and "content digest mismatch" in sec["reason"]
    # a changed label byte: the label is rewritten with another ProduceID but the old block
    label = read_label(out)
    assert label is not None
    relabelled = tmp_path / "r.wav"
    write_label(out, relabelled, replace(label.label, produce_id="other", propagate_id="other"))
    sec = inspect(relabelled, audio_watermark=False)["aigc"]["label"]["security"]
    assert sec["verified"] is False and "does not match" in sec["reason"]


def test_key_files_and_bad_keys(tmp_path: Path, key: SM2Key) -> None:
    plain = tmp_path / "k.hex"
    plain.write_text(key.private_key + "\n")
    assert load_sm2_key(plain) == key
    js = tmp_path / "k.json"
    js.write_text(json.dumps({"private_key": key.private_key.upper()}))
    assert load_sm2_key(js) == key
    for bad in ("zz", "00" * 32, "ff" * 32, '{"key": 1}'):
        f = tmp_path / "bad"
        f.write_text(bad)
        with pytest.raises(SecurityDataError):
            load_sm2_key(f)
    with pytest.raises(SecurityDataError):
        load_sm2_key(tmp_path / "missing")
    with pytest.raises(SecurityDataError):
        make_block(AIGCLabel.as_producer("1", "P", "i"), SM2Key(key.public_key), scope="producer")
    with pytest.raises(SecurityDataError):
        make_block(AIGCLabel.as_producer("1", "P", "i"), key, scope="platform")


def test_cli_apply_sm2_and_strict_check(key: SM2Key, media: dict[str, Path], tmp_path: Path) -> None:
    runner = CliRunner()
    keyfile = tmp_path / "sm2.key"
    keyfile.write_text(key.private_key)
    out = tmp_path / "o.flac"
    r = runner.invoke(app, ["apply", str(media["flac"]), "--out", str(out), "--producer", "PROD",
                            "--sm2-key", str(keyfile), "--json"])
    assert r.exit_code == 0, r.output
    assert json.loads(r.output)["security"]["verified"] is True
    r = runner.invoke(app, ["check", str(out), "--strict"])
    assert r.exit_code == 0 and "verifies" in r.output
    trusted = tmp_path / "trusted.txt"
    trusted.write_text(f"# platform keys\n{key.public_key}\n")
    r = runner.invoke(app, ["check", str(out), "--json", "--sm2-trust", str(trusted)])
    (row,) = json.loads(r.output)
    assert r.exit_code == 0 and row["aigc"]["label"]["security"]["blocks"][0]["trusted"] is True
    trusted.write_text(generate_sm2_key().key_id + "\n")
    r = runner.invoke(app, ["check", str(out), "--json", "--sm2-trust", str(trusted)])
    (row,) = json.loads(r.output)
    block = row["aigc"]["label"]["security"]["blocks"][0]
    assert block["trusted"] is False and "NOT a trusted key" in block["reason"]
    assert runner.invoke(app, ["check", str(out), "--sm2-trust", str(tmp_path / "none.txt")]).exit_code == 2
    tampered = copy(out, tmp_path / "t.flac")
    label = read_label(tampered)
    assert label is not None
    write_label(tampered, tampered, replace(label.label, label="3"))
    r = runner.invoke(app, ["check", str(tampered), "--strict"])
    assert r.exit_code == 1 and "FAILS" in r.output
    bad = tmp_path / "bad.key"
    bad.write_text("not a key")
    r = runner.invoke(app, ["apply", str(media["flac"]), "--out", str(tmp_path / "x.flac"), "--producer", "P",
                            "--sm2-key", str(bad)])
    assert r.exit_code == 2 and "security_data" in r.output
