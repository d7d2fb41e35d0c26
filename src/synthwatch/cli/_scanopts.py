"""Scan options shared by ``scan`` and ``batch``: limits and sampling on top of the settings."""

from __future__ import annotations

from ..config import Settings

__all__ = ["with_scan_options"]


def with_scan_options(settings: Settings, *, max_bytes: int | None = None, max_duration: float | None = None,
                      max_pixels: int | None = None, max_frames: int | None = None, timeout: float | None = None,
                      fps: float | None = None, keyframes_only: bool = False, exact_frames: bool = False) -> Settings:
    """``settings`` with the command line's limits and sampling applied (validated: a bad value
    raises pydantic's ``ValueError``)."""
    lim = settings.limits.model_copy(update={k: v for k, v in {
        "max_bytes": max_bytes, "max_duration_s": max_duration, "max_pixels": max_pixels,
        "max_frames": max_frames, "scan_timeout_s": timeout}.items() if v is not None})
    samp = settings.sampling.model_copy(update={"keyframes_only": keyframes_only, **({"fps": fps} if fps else {}),
                                                **({"frame_token_merging": 0} if exact_frames else {})})
    return settings.model_copy(update={"limits": type(lim).model_validate(lim.model_dump()),
                                       "sampling": type(samp).model_validate(samp.model_dump())})
