"""What provenance work runs under, set by the caller for a block of calls.

The scanner, the service's workers and the ``label`` commands read the settings once and open a
scope around their provenance calls::

    with provenance.scope.use(ProvenanceScope(limits=ctx.limits, deadline=ctx.deadline,
                                              trust_anchors=pem, rules=table)):
        section = provenance.inspect(path)

Everything below reads it from here: the isolated worker's time and memory limits and the scan's
deadline (:mod:`.isolation`), the C2PA trust anchors (:mod:`.c2pa_trust`) and the Art. 6 rule table
(:mod:`.decision`). Nothing below the caller reads the environment; without a scope the defaults of
:class:`~synthwatch.config.Limits`, the shipped trust lists and the shipped rules apply. The scope is
a :class:`contextvars.ContextVar`, so concurrent scans in threads or tasks each see their own.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from ..config import Limits

__all__ = ["ProvenanceScope", "current", "use", "deadline_for"]


@dataclass(frozen=True)
class ProvenanceScope:
    limits: Limits = field(default_factory=Limits)
    #: a :func:`time.monotonic` value past which no isolated worker may run (the scan's deadline)
    deadline: float | None = None
    #: the platform's PEM trust anchors for C2PA (added to the shipped lists), or None
    trust_anchors: str | None = None
    #: whether the shipped C2PA trust lists count (``Settings.c2pa_shipped_trust``)
    shipped_trust: bool = True
    #: the Art. 6 rule table (``Settings.provenance_rules`` loaded), or None for the shipped one
    rules: Mapping[str, Any] | None = None


_DEFAULT = ProvenanceScope()
_CURRENT: ContextVar[ProvenanceScope | None] = ContextVar("synthwatch_provenance_scope", default=None)


def current() -> ProvenanceScope:
    """The scope in force (the defaults when no caller opened one)."""
    return _CURRENT.get() or _DEFAULT


@contextmanager
def use(scope: ProvenanceScope) -> Iterator[ProvenanceScope]:
    token = _CURRENT.set(scope)
    try:
        yield scope
    finally:
        _CURRENT.reset(token)


def deadline_for(deadline: float | None) -> float | None:
    """The earlier of ``deadline`` and the scope's (None when neither is set)."""
    own = current().deadline
    if deadline is None:
        return own
    return deadline if own is None else min(deadline, own)

