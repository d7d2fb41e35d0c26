"""One context for one scan: the settings, limits and sampling in force and the scan's deadline,
made once by the caller (``Scanner.scan``, the service's worker, a live-room monitor) and passed
down to every step: probing, decoders, the analysis core, provenance and the isolated workers.
Nothing below the caller reads the environment or builds its own settings.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from .config import Limits, Sampling, Settings
from .errors import ScanTimeout

__all__ = ["ScanContext"]


@dataclass(frozen=True)
class ScanContext:
    """What one scan runs under. ``deadline`` is a :func:`time.monotonic` value (None: the scan has
    no overall limit, only each step's own)."""

    settings: Settings
    limits: Limits
    sampling: Sampling
    deadline: float | None = None
    started: float = field(default_factory=time.monotonic)
    #: the file's type as read once from its bytes (``synthwatch.media.sniff.Sniffed``), set once known
    sniffed: Any = None

    @classmethod
    def start(cls, settings: Settings, *, limits: Limits | None = None,
              sampling: Sampling | None = None) -> ScanContext:
        """A context starting now: ``limits`` / ``sampling`` override the settings' for this scan;
        the deadline comes from ``limits.scan_timeout_s``."""
        lim = limits or settings.limits
        now = time.monotonic()
        deadline = now + lim.scan_timeout_s if lim.scan_timeout_s else None
        return cls(settings, lim, sampling or settings.sampling, deadline, now)

    def remaining_s(self) -> float | None:
        """Seconds left before the deadline (None: no deadline; never below 0)."""
        return None if self.deadline is None else max(0.0, self.deadline - time.monotonic())

    def expired(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline

    def check(self, what: str) -> None:
        """Raise :class:`ScanTimeout` when the deadline has passed (``what``: the step about to run)."""
        if self.expired():
            raise ScanTimeout(self.timeout_message(what))

    def timeout_message(self, what: str) -> str:
        return (f"the scan ran past its time limit of {self.limits.scan_timeout_s:g} s "
                f"(scan_timeout_s, --timeout) while {what}")
