"""Time-ordered identifiers (ULID layout: 48-bit milliseconds + 80 random bits, Crockford base32),
prefixed by object type: ``scan_01J…``. Sorting ids sorts by creation time, which cursor
pagination relies on."""

from __future__ import annotations

import secrets
import time

__all__ = ["new_id"]

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def new_id(prefix: str) -> str:
    value = (int(time.time() * 1000) << 80) | secrets.randbits(80)
    chars = []
    for _ in range(26):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return f"{prefix}_{''.join(reversed(chars))}"
