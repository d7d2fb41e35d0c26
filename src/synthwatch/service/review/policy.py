"""The review policy: which findings open a case, priorities and SLAs, reason codes, report
reasons, what the actions do, appeals. YAML (format ``synthwatch.review/1``), validated with
pydantic, stored per tenant with a revision number; every case records the ``version`` of the policy
that opened it and every decision the one it followed.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

import sqlalchemy as sa
import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from sqlalchemy.engine import Connection

from ...errors import ConfigError
from ..ids import new_id
from ..storage import review_tables as rt

__all__ = ["ACTIONS", "FINAL_ACTIONS", "TRIGGERS", "PRIORITY_ORDER", "Policy", "StoredPolicy", "parse_policy",
           "default_policy_text", "active_policy", "save_policy", "PolicyError"]

ACTIONS = ("label", "restrict", "remove", "dismiss", "escalate")
FINAL_ACTIONS = ("label", "restrict", "remove", "dismiss")
TRIGGERS = ("likely_synthetic", "face_forgery", "label_violation", "inconclusive", "user_report", "live_room")
PRIORITY_ORDER = ("urgent", "high", "normal", "low")
_CODE = r"^[a-z][a-z0-9_]{0,59}$"
MAX_POLICY_BYTES = 64 * 1024


class PolicyError(ConfigError):
    code = "invalid_policy"

    def __init__(self, message: str, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.errors = errors or []


ActionName = Literal["label", "restrict", "remove", "dismiss", "escalate"]


def _all_actions() -> list[ActionName]:
    return ["label", "restrict", "remove", "dismiss", "escalate"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Trigger(_Strict):
    enabled: bool = True
    priority: Literal["urgent", "high", "normal", "low"] = "normal"
    min_score: float | None = Field(default=None, ge=0.0, le=1.0, description="inconclusive: the least score that opens a case")


class Sla(_Strict):
    sla_hours: float = Field(gt=0, le=24 * 365)


class ReasonCode(_Strict):
    code: str = Field(pattern=_CODE)
    title: str = Field(min_length=1, max_length=200)
    actions: list[ActionName] = Field(default_factory=lambda: _all_actions())


class ReportReason(_Strict):
    code: str = Field(pattern=_CODE)
    title: str = Field(min_length=1, max_length=200)


class LabelAction(_Strict):
    propagator: str | None = Field(default=None, min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")
    label: Literal["auto", "1", "2", "3"] = "auto"
    visible: bool = False


class RemoveAction(_Strict):
    four_eyes: bool = True


class RestrictAction(_Strict):
    four_eyes: bool = False


class Actions(_Strict):
    label: LabelAction = LabelAction()
    remove: RemoveAction = RemoveAction()
    restrict: RestrictAction = RestrictAction()


class Appeals(_Strict):
    window_days: float = Field(default=14, ge=0, le=3650)
    sla_hours: float = Field(default=48, gt=0, le=24 * 365)


class Policy(_Strict):
    format: Literal["synthwatch.review/1"]
    version: str = Field(min_length=1, max_length=100, pattern=r"^[\x21-\x7e]+$")
    open_cases: dict[Literal["likely_synthetic", "face_forgery", "label_violation", "inconclusive", "user_report",
                             "live_room"], Trigger]
    priorities: dict[Literal["urgent", "high", "normal", "low"], Sla]
    reason_codes: list[ReasonCode] = Field(min_length=1)
    report_reasons: list[ReportReason] = Field(min_length=1)
    actions: Actions = Actions()
    appeals: Appeals = Appeals()

    @field_validator("priorities")
    @classmethod
    def _all_priorities(cls, v: dict[str, Sla]) -> dict[str, Sla]:
        missing = [p for p in PRIORITY_ORDER if p not in v]
        if missing:
            raise ValueError(f"every priority needs an SLA; missing: {', '.join(missing)}")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Policy:
        codes = [r.code for r in self.reason_codes]
        if len(set(codes)) != len(codes):
            raise ValueError("reason codes must be unique")
        reasons = [r.code for r in self.report_reasons]
        if len(set(reasons)) != len(reasons):
            raise ValueError("report reasons must be unique")
        for action in ACTIONS:
            if not any(action in r.actions for r in self.reason_codes):
                raise ValueError(f"no reason code allows the action {action!r}")
        for name, trig in self.open_cases.items():
            if trig.min_score is not None and name != "inconclusive":
                raise ValueError(f"open_cases.{name}: min_score applies to inconclusive only")
        return self

    # ------------------------------------------------------------------ helpers
    def trigger(self, name: str) -> Trigger | None:
        t = self.open_cases.get(name)  # type: ignore[call-overload]
        return t if t is not None and t.enabled else None

    def sla_s(self, priority: str) -> float:
        return float(self.priorities[priority].sla_hours) * 3600.0  # type: ignore[index]

    def reason(self, code: str) -> ReasonCode | None:
        return next((r for r in self.reason_codes if r.code == code), None)

    def report_reason(self, code: str) -> ReportReason | None:
        return next((r for r in self.report_reasons if r.code == code), None)

    def four_eyes(self, action: str) -> bool:
        if action == "remove":
            return self.actions.remove.four_eyes
        if action == "restrict":
            return self.actions.restrict.four_eyes
        return False


@dataclass(frozen=True)
class StoredPolicy:
    policy: Policy
    text: str
    digest: str
    revision: int  # 0: the shipped default
    created_at: float | None = None
    created_by: str | None = None

    @property
    def version(self) -> str:
        return self.policy.version

    def to_dict(self) -> dict[str, Any]:
        return {"object": "review_policy", "version": self.version, "revision": self.revision, "digest": self.digest,
                "default": self.revision == 0, "created_at": self.created_at, "created_by": self.created_by,
                "text": self.text, "policy": self.policy.model_dump(mode="json")}


def parse_policy(text: str | bytes) -> Policy:
    """Parse and validate a policy; :class:`PolicyError` (with per-field errors) when invalid."""
    if isinstance(text, bytes):
        if len(text) > MAX_POLICY_BYTES:
            raise PolicyError(f"the policy is larger than {MAX_POLICY_BYTES} bytes")
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError:
            raise PolicyError("the policy is not UTF-8 text") from None
    if len(text.encode("utf-8")) > MAX_POLICY_BYTES:
        raise PolicyError(f"the policy is larger than {MAX_POLICY_BYTES} bytes")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"the policy is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise PolicyError("the policy must be a YAML mapping")
    try:
        return Policy.model_validate(data)
    except ValidationError as exc:
        errors = [{"loc": [str(p) for p in e["loc"]], "msg": e["msg"]} for e in exc.errors()]
        first = errors[0]
        raise PolicyError(f"invalid policy: {'.'.join(first['loc']) or '(top)'}: {first['msg']}", errors) from None


def default_policy_text() -> str:
    return (resources.files("synthwatch.service.review") / "default_policy.yaml").read_text(encoding="utf-8")


_DEFAULT: StoredPolicy | None = None


def _default() -> StoredPolicy:
    global _DEFAULT
    if _DEFAULT is None:
        text = default_policy_text()
        _DEFAULT = StoredPolicy(parse_policy(text), text, hashlib.sha256(text.encode()).hexdigest(), 0)
    return _DEFAULT


_CACHE: dict[tuple[str, int], StoredPolicy] = {}


def active_policy(conn: Connection, tenant_id: str) -> StoredPolicy:
    """The tenant's newest policy revision (parsed once per process), else the shipped default."""
    c = rt.review_policies.c
    row = conn.execute(sa.select(c.revision, c.text, c.digest, c.created_at, c.created_by)
                       .where(c.tenant_id == tenant_id).order_by(c.revision.desc()).limit(1)).first()
    if row is None:
        return _default()
    key = (tenant_id, int(row.revision))
    hit = _CACHE.get(key)
    if hit is None or hit.digest != row.digest:
        hit = StoredPolicy(parse_policy(row.text), row.text, row.digest, int(row.revision), row.created_at,
                           row.created_by)
        _CACHE[key] = hit
    return hit


def save_policy(conn: Connection, tenant_id: str, text: str, actor: str) -> tuple[StoredPolicy, StoredPolicy]:
    """Validate and store a new revision; returns (before, after)."""
    policy = parse_policy(text)
    before = active_policy(conn, tenant_id)
    revision = (before.revision if before.revision else 0) + 1
    digest = hashlib.sha256(text.encode("utf-8")).hexdigest()
    at = time.time()
    conn.execute(rt.review_policies.insert().values(id=new_id("pol"), tenant_id=tenant_id, revision=revision,
                                                    version=policy.version, digest=digest, text=text, created_at=at,
                                                    created_by=actor))
    after = StoredPolicy(policy, text, digest, revision, at, actor)
    _CACHE[(tenant_id, revision)] = after
    return before, after


def policy_summary(p: StoredPolicy) -> dict[str, Any]:
    """What the audit log records of a policy: version, revision, digest."""
    return {"version": p.version, "revision": p.revision, "digest": p.digest}


def dumps(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)
