"""Keys, roles and permissions.

A key looks like ``swk_<prefix>_<secret>``: the prefix (public, unique) finds the row, the sha256 of
the whole key is compared in constant time; only the hash is stored, the key is shown once.

Roles (per tenant) and what they may do are in :data:`PERMISSIONS`, the one table the routes
consult; later areas (review cases, audit, assessments) add their permissions here.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from enum import StrEnum

__all__ = ["Role", "PERMISSIONS", "Principal", "generate_key", "hash_key", "split_key", "allowed"]


class Role(StrEnum):
    UPLOADER = "uploader"  # submit scans and read its tenant's scans
    REVIEWER = "reviewer"  # read scans and media (review cases: issue 14)
    AUDITOR = "auditor"  # read-only: scans, media metadata, deliveries, tenant settings (audit log: issue 14)
    ADMIN = "admin"  # everything in its tenant: settings, keys, webhook secret, legal hold
    REGULATOR = "regulator"  # the regulator's inbox (self-assessment reports: issue 16)
    INGEST = "ingest"  # stream live audio into rooms and nothing else (an SFU or telephony bridge: issue 15)


ALL_ROLES = frozenset(Role)

#: permission -> roles that hold it
PERMISSIONS: dict[str, frozenset[Role]] = {
    "self:read": ALL_ROLES,
    "scans:create": frozenset({Role.UPLOADER, Role.ADMIN}),
    "scans:read": frozenset({Role.UPLOADER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    "media:read": frozenset({Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    "media:hold": frozenset({Role.ADMIN}),
    "tenant:read": frozenset({Role.AUDITOR, Role.ADMIN}),
    "tenant:write": frozenset({Role.ADMIN}),
    "keys:manage": frozenset({Role.ADMIN}),
    "webhooks:read": frozenset({Role.AUDITOR, Role.ADMIN}),
    "webhooks:manage": frozenset({Role.ADMIN}),
    # live audio rooms (issue 15)
    "rooms:stream": frozenset({Role.UPLOADER, Role.INGEST, Role.ADMIN}),
    "rooms:read": frozenset({Role.UPLOADER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    "rooms:evidence": frozenset({Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    # review queue, user reports, audit log (issue 14)
    "cases:read": frozenset({Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    "cases:decide": frozenset({Role.REVIEWER, Role.ADMIN}),
    "cases:hold": frozenset({Role.ADMIN}),
    "reports:create": frozenset({Role.UPLOADER, Role.REVIEWER, Role.ADMIN}),
    "reports:status": frozenset({Role.UPLOADER, Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    "policy:read": frozenset({Role.REVIEWER, Role.AUDITOR, Role.ADMIN}),
    "policy:write": frozenset({Role.ADMIN}),
    "audit:read": frozenset({Role.AUDITOR, Role.ADMIN}),
    "audit:export": frozenset({Role.AUDITOR, Role.ADMIN}),
    "audit:checkpoint": frozenset({Role.AUDITOR, Role.ADMIN}),
    "console:login": frozenset({Role.REVIEWER, Role.AUDITOR, Role.ADMIN, Role.REGULATOR}),  # regulator: its inbox
    # security self-assessments (issue 16): the tenant's admin prepares, remediates and finalises
    "assessments:read": frozenset({Role.ADMIN}),
    "assessments:manage": frozenset({Role.ADMIN}),
    # the regulator's inbox: reports filed to the regulator's tenant by every platform (issue 16)
    "inbox:read": frozenset({Role.REGULATOR}),
    "inbox:act": frozenset({Role.REGULATOR}),
}


def allowed(role: str, permission: str) -> bool:
    return role in PERMISSIONS[permission]


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: the key's id, its tenant and role, and the client address."""

    key_id: str
    tenant_id: str
    tenant_name: str
    role: Role
    source_ip: str | None = None

    def can(self, permission: str) -> bool:
        return allowed(self.role, permission)


def generate_key() -> tuple[str, str, str]:
    """A new key: (full key, prefix, sha256 hex of the full key)."""
    prefix = secrets.token_hex(6)
    key = f"swk_{prefix}_{secrets.token_urlsafe(32)}"
    return key, prefix, hash_key(key)


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def split_key(key: str) -> str | None:
    """The prefix of a well-formed key, else None."""
    parts = key.split("_", 2)
    if len(parts) != 3 or parts[0] != "swk" or len(parts[1]) != 12 or not parts[2]:
        return None
    return parts[1]


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
